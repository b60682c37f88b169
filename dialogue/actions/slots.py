"""Reading a slot's value out of what the customer wrote, or saying why it is not one.

A value is searched for in the message ("it's NH-1234, thanks" fills an order number), by the slot's
pattern when it has one, else by its type. The reason for a refusal is said to the customer as is.
"""

import re
from dataclasses import dataclass
from datetime import date

from dateutil import parser as date_parser

from dialogue.catalogue import Phrases, english
from dialogue.profile import Profile
from retrieval.declared_actions.declarations import SlotSpec

_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+")  # RFC 5321's 64: unbounded, it was quadratic
_PHONE = re.compile(r"\+?\d[\d ().-]{5,18}\d")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class SlotReading:
    value: object | None  # None: not found, see `reason`
    reason: str | None = None


def read_slot(slot: SlotSpec, text: str, say: Phrases | None = None) -> SlotReading:
    """`say`: the catalogue in the customer's language, for the reason (English when None)."""
    say = say or english()
    text = text.strip()
    label = slot.name.replace("_", " ")
    if slot.pattern:
        found = re.search(slot.pattern, text)
        if found is None:
            return SlotReading(None, say("slot_invalid", label=label))
        text = found.group(0)
        if slot.type == "text":
            return SlotReading(text)
    reader = _READERS[slot.type]
    value = reader(text)
    if value is None:
        example = say(f"slot_example_{slot.type}" if slot.type in _READERS else "slot_example_text")
        return SlotReading(None, say("slot_invalid_example", label=label, example=example))
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
