"""Reading a slot's value out of what the customer wrote, or saying why it is not one.

A value is searched for in the message ("it's NH-1234, thanks" fills an order number), by the slot's
pattern when it has one, else by its type. The reason for a refusal is said to the customer as is.
"""

import re
from dataclasses import dataclass
from datetime import date

from dateutil import parser as date_parser

from dialogue.profile import Profile
from retrieval.declared_actions.declarations import SlotSpec

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ().-]{5,18}\d")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_EXAMPLES = {"email": "like name@example.com", "phone": "with at least 7 digits, like +44 20 7946 0958",
             "number": "in digits, like 3", "date": "like 2026-12-24 or 24 December 2026"}


@dataclass(frozen=True)
class SlotReading:
    value: object | None  # None: not found, see `reason`
    reason: str | None = None


def read_slot(slot: SlotSpec, text: str) -> SlotReading:
    text = text.strip()
    label = slot.name.replace("_", " ")
    if slot.pattern:
        found = re.search(slot.pattern, text)
        if found is None:
            return SlotReading(None, f"That doesn't look like a valid {label}.")
        text = found.group(0)
        if slot.type == "text":
            return SlotReading(text)
    reader = _READERS[slot.type]
    value = reader(text)
    if value is None:
        return SlotReading(None, f"That doesn't look like a valid {label} ({_EXAMPLES.get(slot.type, 'some text')}).")
    return SlotReading(value)


def _text(text: str) -> str | None:
    return text or None


def _email(text: str) -> str | None:
    found = _EMAIL.search(text)
    return found.group(0).lower() if found else None


def _phone(text: str) -> str | None:
    found = _PHONE.search(text)
    if found is None or sum(ch.isdigit() for ch in found.group(0)) < 7:
        return None
    return found.group(0).strip()


def _number(text: str) -> float | int | None:
    found = _NUMBER.search(text)
    if found is None:
        return None
    number = float(found.group(0).replace(",", "."))
    return int(number) if number.is_integer() else number


def _date(text: str) -> str | None:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return date_parser.parse(text, fuzzy=True, dayfirst=True).date().isoformat()
    except (ValueError, OverflowError):
        return None


_READERS = {"text": _text, "email": _email, "phone": _phone, "number": _number, "date": _date}


def from_profile(slot: SlotSpec, profile: Profile) -> object | None:
    """The value the customer's profile holds for `slot`, checked like a typed answer would be."""
    known = {"name": profile.name, "email": profile.email, "phone": profile.phone,
             "order_number": profile.order_numbers[-1] if profile.order_numbers else None}.get(slot.profile_field or "")
    if not known:
        return None
    return read_slot(slot, str(known)).value
