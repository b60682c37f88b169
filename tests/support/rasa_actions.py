"""Actions for the tests' real action server: `python -m rasa_sdk --actions tests.support.rasa_actions`.

Written against rasa-sdk's own classes, as a company's action server would be.
"""

import asyncio
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import AllSlotsReset, FollowupAction, Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection

ORDERS = {"NH-1234": "shipped on 28 November and arrives tomorrow", "NH-5678": "being packed"}


class OrderStatus(Action):
    def name(self) -> str:
        return "action_order_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        order, email = tracker.get_slot("order_number"), tracker.get_slot("email")
        dispatcher.utter_message(
            text=f"Order {order} (for {email}) is {ORDERS.get(order, 'not known to us')}.",
            buttons=[{"title": "Cancel this order", "payload": f'/cancel_order{{"order_number": "{order}"}}'}])
        dispatcher.utter_message(image="https://shop.example/track.png", json_message={"carrier": "DHL"})
        return [SlotSet("order_status", ORDERS.get(order))]


class ValidateOrderStatus(FormValidationAction):
    def name(self) -> str:
        return "validate_action_order_status"

    def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: dict[str, Any]) -> dict[str, Any]:
        if value not in ORDERS:
            dispatcher.utter_message(text=f"I can't find an order {value}.")
            return {"order_number": None}
        return {"order_number": value}


class CancelOrder(Action):
    def name(self) -> str:
        return "action_cancel_order"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=f"Order {tracker.get_slot('order_number')} is cancelled.")
        return [FollowupAction("action_cancel_note")]


class CancelNote(Action):
    def name(self) -> str:
        return "action_cancel_note"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="Your refund starts today.")
        return [AllSlotsReset()]


class Slow(Action):
    def name(self) -> str:
        return "action_slow"

    async def run(self, dispatcher, tracker, domain):
        await asyncio.sleep(4)
        dispatcher.utter_message(text="Finally done.")
        return []


class Crash(Action):
    def name(self) -> str:
        return "action_crash"

    def run(self, dispatcher, tracker, domain):
        raise RuntimeError("the orders database is down")


class Reject(Action):
    def name(self) -> str:
        return "action_reject"

    def run(self, dispatcher, tracker, domain):
        raise ActionExecutionRejection("action_reject", "not today")


class StartOver(Action):
    def name(self) -> str:
        return "action_start_over"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="Everything is forgotten.")
        return [Restarted()]
