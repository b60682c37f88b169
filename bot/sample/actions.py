"""The sample shop's action server: `helpdesk actions serve-sample` (rasa-sdk), declared in actions.yaml.

A company's own action server looks like this: rasa-sdk `Action`s that read its systems. Here the
"system" is a small orders table in an in-memory SQLite database, seeded below.
"""

import sqlite3
import threading
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

SAMPLE_ORDERS = [  # number, email, status, detail
    ("NH-10234", "ann@example.com", "shipped", "shipped with DPD on 28 November; it arrives tomorrow"),
    ("NH-10277", "ann@example.com", "processing", "being packed at our warehouse"),
    ("NH-10301", "ben@example.com", "delivered", "delivered on 25 November"),
]
_database = sqlite3.connect(":memory:", check_same_thread=False)
_lock = threading.Lock()
_database.execute("CREATE TABLE orders (number TEXT PRIMARY KEY, email TEXT, status TEXT, detail TEXT)")
_database.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", SAMPLE_ORDERS)


def _order(number: str | None) -> tuple[str, str, str] | None:
    with _lock:
        return _database.execute("SELECT email, status, detail FROM orders WHERE number = ?",
                                 (str(number or "").upper(),)).fetchone()


class OrderStatus(Action):
    def name(self) -> str:
        return "action_order_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        number, email = tracker.get_slot("order_number"), tracker.get_slot("email")
        found = _order(number)
        if found is None or found[0] != str(email).lower():
            dispatcher.utter_message(text=f"I can't find order {number} for {email}. Please check both.")
            return [SlotSet("order_number", None)]
        buttons = ([{"title": "Cancel this order", "payload": f'/action_cancel_order{{"order_number": "{number}"}}'}]
                   if found[1] == "processing" else [])
        dispatcher.utter_message(text=f"Order {number} is {found[2]}.", buttons=buttons)
        return [SlotSet("order_status", found[1])]


class ValidateOrderStatus(FormValidationAction):
    def name(self) -> str:
        return "validate_action_order_status"

    def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: dict[str, Any]) -> dict[str, Any]:
        if _order(value) is None:
            dispatcher.utter_message(text=f"We have no order {value}.")
            return {"order_number": None}
        return {"order_number": str(value).upper()}


class CancelOrder(Action):
    def name(self) -> str:
        return "action_cancel_order"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        number = str(tracker.get_slot("order_number") or "").upper()
        found = _order(number)
        if found is None:
            dispatcher.utter_message(text=f"We have no order {number}.")
        elif found[1] != "processing":
            dispatcher.utter_message(text=f"Order {number} is already {found[1]}, so it can't be cancelled; "
                                          "you can return it instead once it arrives.")
        else:
            with _lock:
                _database.execute("UPDATE orders SET status = 'cancelled', detail = 'cancelled' WHERE number = ?",
                                  (number,))
            dispatcher.utter_message(text=f"Order {number} is cancelled. Your refund starts today.")
        return [SlotSet("order_number", None)]
