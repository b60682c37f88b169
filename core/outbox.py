"""The outbox of outgoing webhooks: events are written in the same transaction as what they tell.

`emit(session, type, data, ordering_key)` adds the event and one pending delivery per subscription that
wants its type to the caller's session. Nothing is sent here: the event commits or rolls back with the
turn, conversation, feedback or knowledge change it describes, so a receiver never hears of something
that was rolled back, and a process killed after the commit leaves the delivery in the table for the next
one (`bot/notify/sender.py` sends, `bot/notify/store.py` claims and records). With no subscription
wanting the type, nothing is written at all.
"""

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.database import Base, utcnow

WOKEN = "outbox_emitted"  # set in `session.info` by `emit`, so a commit can wake this process's sender


class EventType(StrEnum):
    CONVERSATION_STARTED = "conversation.started"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_ANSWERED = "message.answered"
    CONVERSATION_HANDOFF = "conversation.handoff"
    CONVERSATION_CLOSED = "conversation.closed"
    FEEDBACK_RECEIVED = "feedback.received"
    ACTION_FAILED = "action.failed"
    KNOWLEDGE_CHANGED = "knowledge.changed"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # by an admin, or because every attempt failed for too long; deliveries wait


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent (again), or being sent under a lease
    SENT = "sent"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt within the retry window failed; an admin may redeliver it


class WebhookSubscriptionRecord(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON, default=list)  # EventType values
    # Kept as given: the sender needs it to sign. Never shown by the API, never audited.
    secret: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default=SubscriptionStatus.ACTIVE)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Since when every attempt failed (None after a success), and how many attempts that was.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failures_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxEventRecord(Base):
    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)  # "evt_<hex>": the receiver's dedup key
    type: Mapped[str] = mapped_column(String(40))
    # The exact JSON body every delivery of this event sends (and signs), so a redelivery is byte-identical.
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class WebhookDeliveryRecord(Base):
    """One event for one subscription. Deliveries with the same `ordering_key` go out strictly by id."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "subscription_id", "ordering_key", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    ordering_key: Mapped[str | None] = mapped_column(String(64))  # "conversation:12", "knowledge", None
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The retry window runs from here: the event's creation, or the last redeliver / resume.
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Which process is sending it, until when (bot/notify/store.py `claim`).
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def conversation_key(conversation_id: int) -> str:
    """The ordering key of a conversation's events: its receivers get them in the order they happened."""
    return f"conversation:{conversation_id}"


def emit(session: Session, type_: EventType, data: dict[str, Any], ordering_key: str | None = None) -> str | None:
    """Queue event `type_` for every subscription that wants it, in the caller's transaction.

    `data` must be what is stored (never raw input that was not kept). Returns the event id, or None when
    no subscription wants the type (nothing is written then).
    """
    wanted = [sub_id for sub_id, events in session.execute(
        select(WebhookSubscriptionRecord.id, WebhookSubscriptionRecord.events)) if type_.value in (events or [])]
    if not wanted:
        return None
    now = utcnow()
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "type": type_.value, "created_at": now.isoformat(), "data": data},
                      ensure_ascii=False, separators=(",", ":"), default=_encode)
    event = OutboxEventRecord(event_id=event_id, type=type_.value, body=body, created_at=now)
    session.add(event)
    session.flush()
    session.add_all(WebhookDeliveryRecord(subscription_id=sub_id, event_id=event.id, ordering_key=ordering_key,
                                          status=DeliveryStatus.PENDING, next_attempt_at=now, window_started_at=now,
                                          created_at=now) for sub_id in wanted)
    session.flush()  # written now, so whatever the transaction does next can only roll it back with itself
    session.info[WOKEN] = True
    return event_id


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLite hands back naive datetimes; they were stored in UTC
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a webhook event")
