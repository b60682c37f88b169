"""What the dialogue layer tells webhook subscribers (docs/webhooks.md), one function per event.

Each is called with the session of the write it describes, right after that write, so the event commits
or rolls back with it (core/outbox.py). The data is what was stored and what an admin can read through
the conversations API: never a message's raw metadata, never text that was not kept.

`dialogue/records.py` imports this module (for status changes), so it takes records without importing them.
"""

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.database import utcnow
from core.outbox import EventType, conversation_key, emit

# ConversationStatus values (dialogue/records.py) whose reaching is an event; going back to the bot is not.
_STATUS_EVENTS = {"handoff": EventType.CONVERSATION_HANDOFF, "closed": EventType.CONVERSATION_CLOSED}


def conversation_started(session: Session, conversation: Any, sender_id: str) -> None:
    emit(session, EventType.CONVERSATION_STARTED, {
        "conversation_id": conversation.id, "channel": conversation.channel, **_customer(conversation),
        "sender_id": sender_id, "started_at": conversation.started_at or utcnow(),
    }, conversation_key(conversation.id))


def message_received(session: Session, conversation: Any, turn: Any) -> None:
    emit(session, EventType.MESSAGE_RECEIVED, {
        "conversation_id": conversation.id, "channel": conversation.channel, "turn_id": turn.id,
        "text": turn.text, "created_at": turn.created_at or utcnow(),
    }, conversation_key(conversation.id))


def message_answered(session: Session, conversation: Any, turn: Any) -> None:
    emit(session, EventType.MESSAGE_ANSWERED, {
        "conversation_id": conversation.id, "channel": conversation.channel, "turn_id": turn.id,
        "text": turn.text, "kind": turn.kind, "sources": list(turn.sources or []),
        "latency_ms": round(turn.latency_ms, 1) if turn.latency_ms is not None else None,
        "model_id": turn.model_id, "created_at": turn.created_at or utcnow(),
    }, conversation_key(conversation.id))


def status_changed(session: Session | None, conversation: Any, previous: str | None, reason: str | None) -> None:
    """A conversation handed to people or closed. `reason`: customer, agent or timeout (None: not said)."""
    event = _STATUS_EVENTS.get(conversation.status)
    if event is None or session is None:  # no session: a record not stored yet, so nothing to tell
        return
    emit(session, event, {
        "conversation_id": conversation.id, "channel": conversation.channel, **_customer(conversation),
        "status": conversation.status, "previous_status": previous, "reason": reason, "at": utcnow(),
    }, conversation_key(conversation.id))


def _customer(conversation: Any) -> dict[str, int]:
    """Whose conversation it is. `user_id` is the older name of `customer_id`, sent as well for subscribers
    that read it: deprecated, to be removed in a later release (docs/webhooks.md)."""
    return {"customer_id": conversation.customer_id, "user_id": conversation.customer_id}


def feedback_received(session: Session, conversation_id: int, turn: Any, at: datetime) -> None:
    emit(session, EventType.FEEDBACK_RECEIVED, {
        "conversation_id": conversation_id, "turn_id": turn.id, "rating": "up" if turn.feedback > 0 else "down",
        "at": at,
    }, conversation_key(conversation_id))


def action_failed(session: Session, conversation_id: int, turn_id: int | None, action: str, error: str) -> None:
    """A custom action could not run. Call it in the transaction that records the failure; `error` is the
    text stored (or shown to admins) about it, never the customer's raw input."""
    emit(session, EventType.ACTION_FAILED, {
        "conversation_id": conversation_id, "turn_id": turn_id, "action": action, "error": error, "at": utcnow(),
    }, conversation_key(conversation_id))
