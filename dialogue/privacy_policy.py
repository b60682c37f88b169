"""What to do with each kind of personal data found in a customer message (HELPDESK_PII).

Light on purpose (no Presidio import): the settings validate the operator's policy with it at start-up.
"""

import json
from dataclasses import dataclass, field
from enum import StrEnum


class Entity(StrEnum):
    """The kinds of personal data the masking looks for (docs/privacy.md says how each is found)."""

    CARD = "card"  # payment card numbers, Luhn-checked
    IBAN = "iban"  # IBANs, checksum-checked
    EMAIL = "email"
    PHONE = "phone"
    GOV_ID = "gov_id"  # US SSN, UK National Insurance and NHS numbers, Spanish NIF, Italian fiscal code
    IP = "ip"  # IPv4 and IPv6 addresses
    ADDRESS = "address"  # street addresses ("221B Baker Street") and UK postcodes


class Action(StrEnum):
    MASK = "mask"  # replaced by <CARD>, <EMAIL>, ...
    PARTIAL = "partial"  # replaced by its last four characters only: <CARD ****4242>
    KEEP = "keep"  # stored as typed (never allowed for card numbers)
    DROP = "drop"  # the whole message is not stored, only a note that it was dropped


@dataclass(frozen=True)
class PrivacyPolicy:
    actions: dict[Entity, Action] = field(default_factory=lambda: {entity: Action.MASK for entity in Entity})

    def action(self, entity: Entity) -> Action:
        return self.actions.get(entity, Action.MASK)

    @classmethod
    def parse(cls, text: str) -> "PrivacyPolicy":
        """`email=keep,card=partial` or `{"email": "keep"}`; entities not named are masked.

        Raises ValueError with a message that says what to fix.
        """
        text = (text or "").strip()
        if not text:
            return cls()
        if text.startswith("{"):
            try:
                pairs = json.loads(text)
            except ValueError as error:
                raise ValueError(f"HELPDESK_PII is not valid JSON: {error}") from None
            if not isinstance(pairs, dict):
                raise ValueError("HELPDESK_PII as JSON must be an object, e.g. {\"email\": \"keep\"}")
            items = list(pairs.items())
        else:
            items = [tuple(part.split("=", 1)) if "=" in part else (part, "")
                     for part in text.split(",") if part.strip()]
        actions = cls().actions
        for name, value in items:
            entity, action = _entity(str(name)), _action(str(name), str(value))
            if entity is Entity.CARD and action is Action.KEEP:
                raise ValueError("HELPDESK_PII: card numbers are never stored in clear; use card=mask, "
                                 "card=partial or card=drop")
            actions[entity] = action
        return cls(actions)


def _entity(name: str) -> Entity:
    try:
        return Entity(name.strip().lower())
    except ValueError:
        raise ValueError(f"HELPDESK_PII: unknown kind {name.strip()!r}; use one of "
                         f"{', '.join(entity.value for entity in Entity)}") from None


def _action(name: str, value: str) -> Action:
    try:
        return Action(value.strip().lower())
    except ValueError:
        raise ValueError(f"HELPDESK_PII: {name.strip()}={value.strip()!r} is not an action; use one of "
                         f"{', '.join(action.value for action in Action)}") from None
