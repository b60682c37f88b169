"""Declared actions: what an action needs before it can run, and the phrasings that trigger it.

An action is a kind of knowledge entry: its example phrasings are searched like an FAQ's questions
(retrieval/entries.py), and what it needs (its slots) is declared here so the dialogue can fill them as
a form before calling the action server (dialogue/actions/forms.py).
"""

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, utcnow
from retrieval.errors import InvalidAction

SLOT_TYPES = ("text", "number", "email", "phone", "date")
PROFILE_FIELDS = ("name", "email", "phone", "order_number")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_RESERVED_SLOTS = {"requested_slot"}


class ActionRecord(Base):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text)
    examples: Mapped[list[str]] = mapped_column(JSON, default=list)
    slots: Mapped[list[dict]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class SlotSpec:
    """One value an action needs: the question that asks for it, how to check it, where else it may come from."""

    name: str
    prompt: str
    type: str = "text"
    pattern: str | None = None  # a regular expression the value must contain; the match is the value
    profile_field: str | None = None  # filled from the customer's profile when it holds this field

    def to_record(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class ActionDraft:
    """A declaration as an admin sent it, already validated and normalised."""

    name: str
    description: str
    examples: list[str] = field(default_factory=list)
    slots: list[SlotSpec] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        payload = json.dumps([self.name, self.description, self.examples, [s.to_record() for s in self.slots]],
                             ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Action:
    id: int
    name: str
    description: str
    examples: list[str]
    slots: list[SlotSpec]
    version: int
    updated_at: datetime

    @classmethod
    def from_record(cls, record: ActionRecord) -> "Action":
        return cls(record.id, record.name, record.description, list(record.examples or []),
                   [SlotSpec(**slot) for slot in record.slots or []], record.version, record.updated_at)

    def slot(self, name: str) -> SlotSpec | None:
        return next((slot for slot in self.slots if slot.name == name), None)

    def as_draft(self) -> ActionDraft:
        return ActionDraft(self.name, self.description, self.examples, self.slots)


def make_action_draft(name: str, description: str = "", examples: list[str] | None = None,
                      slots: list[dict] | None = None) -> ActionDraft:
    """Strip whitespace, drop repeated examples, and refuse what could never run or never be triggered."""
    name, description = (name or "").strip(), (description or "").strip()
    if not _NAME.match(name):
        raise InvalidAction(f"`name` {name!r} must start with a letter and hold only letters, digits and "
                            "underscores (at most 100), like `action_order_status`.")
    seen: set[str] = set()
    clean_examples = []
    for text in examples or []:
        text = (text or "").strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            clean_examples.append(text)
    if not clean_examples:
        raise InvalidAction(f"Action {name!r} needs at least one example phrasing in `examples`, or nothing "
                            "can ever trigger it.")
    specs = [_slot_spec(name, index, slot) for index, slot in enumerate(slots or [])]
    names = [spec.name for spec in specs]
    if len(set(names)) < len(names):
        raise InvalidAction(f"Action {name!r} declares a slot twice: "
                            f"{sorted({n for n in names if names.count(n) > 1})}.")
    return ActionDraft(name, description or name.replace("_", " "), clean_examples, specs)


def _slot_spec(action: str, index: int, slot: dict) -> SlotSpec:
    where = f"Action {action!r}, slots[{index}]"
    if not isinstance(slot, dict):
        raise InvalidAction(f"{where} must be an object with `name` and `prompt`.")
    unknown = set(slot) - {"name", "prompt", "type", "pattern", "profile_field"}
    if unknown:
        raise InvalidAction(f"{where} has unknown keys {sorted(unknown)}; use name, prompt, type, pattern, "
                            "profile_field.")
    name, prompt = str(slot.get("name") or "").strip(), str(slot.get("prompt") or "").strip()
    if not _NAME.match(name) or name in _RESERVED_SLOTS:
        raise InvalidAction(f"{where}: `name` {name!r} must be letters, digits and underscores, starting with a "
                            "letter (and not `requested_slot`, which forms use).")
    if not prompt:
        raise InvalidAction(f"{where} ({name}): `prompt`, the question that asks for it, must not be empty.")
    kind = str(slot.get("type") or "text").strip().lower()
    if kind not in SLOT_TYPES:
        raise InvalidAction(f"{where} ({name}): `type` {kind!r} is not one of {', '.join(SLOT_TYPES)}.")
    pattern = slot.get("pattern") or None
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            raise InvalidAction(f"{where} ({name}): `pattern` is not a valid regular expression: {error}.") from None
    profile_field = slot.get("profile_field") or None
    if profile_field is not None and profile_field not in PROFILE_FIELDS:
        raise InvalidAction(f"{where} ({name}): `profile_field` {profile_field!r} is not one of "
                            f"{', '.join(PROFILE_FIELDS)}.")
    return SlotSpec(name, prompt, kind, pattern, profile_field)
