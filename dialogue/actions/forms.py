"""A conversation's form: which action is collecting its slots, what it asks now, and the values so far.

Stored in `conversation_forms` (one row per conversation) so that a restart, or another process taking
the next message, carries on where the conversation was.
"""

import re
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import sessionmaker

from core.database import utcnow
from dialogue.actions.records import FormStateRecord, FormStatus
from dialogue.small_talk import SmallTalk, says_yes, small_talk

_CANCEL = re.compile(r"^\s*(?:/deny\b.*|(?:oh,?\s*)?(?:never\s*mind|nevermind|cancel(?: that| it)?|stop|forget it|"
                     r"quit|exit|no,? thanks?|no thank you|leave it)[\s.!]*)$", re.I)
# Yes and no are small talk's (dialogue/small_talk.py), plus the form's own words and the payloads of buttons.
_AFFIRM = re.compile(r"^\s*(?:/affirm\b.*|continue|go on|let'?s continue)[\s.!]*$", re.I)
_DENY = re.compile(r"^\s*/deny\b.*$", re.I)
_CHANGE = re.compile(r"\b(?:change|correct|update|fix|wrong|actually|instead|edit)\b", re.I)


@dataclass(frozen=True)
class FormState:
    action: str | None = None
    status: FormStatus | None = None
    requested_slot: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.action is not None

    def left(self) -> "FormState":
        """No form in progress; the slot values stay (another action may need the same order number)."""
        return replace(self, action=None, status=None, requested_slot=None)


class FormStore:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def load(self, conversation_id: int) -> FormState:
        with self.sessions() as session:
            record = session.get(FormStateRecord, conversation_id)
            if record is None:
                return FormState()
            status = FormStatus(record.status) if record.status else None
            return FormState(record.action, status, record.requested_slot, dict(record.slots or {}))

    def save(self, conversation_id: int, state: FormState) -> None:
        with self.sessions() as session:
            record = session.get(FormStateRecord, conversation_id)
            if record is None:
                record = FormStateRecord(conversation_id=conversation_id)
                session.add(record)
            record.action, record.requested_slot = state.action, state.requested_slot
            record.status = state.status.value if state.status else None
            record.slots, record.updated_at = dict(state.slots), utcnow()
            session.commit()


def wants_to_leave(text: str) -> bool:
    return bool(_CANCEL.match(text))


def affirms(text: str) -> bool:
    return bool(_AFFIRM.match(text)) or says_yes(text)


def denies(text: str) -> bool:
    return bool(_DENY.match(text)) or small_talk(text) is SmallTalk.NO


def slot_to_change(text: str, slot_names: list[str]) -> str | None:
    """The slot the customer asks to change ("actually, change my email"), when they name one."""
    if not _CHANGE.search(text):
        return None
    lowered = text.lower()
    for name in slot_names:
        words = name.replace("_", " ").lower()
        if words in lowered or name.lower() in lowered or words.split()[-1] in lowered.split():
            return name
    return None
