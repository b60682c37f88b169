"""What channels persist: inbound events already accepted (dedup) and every outgoing platform message."""

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, utcnow


class ChannelEventRecord(Base):
    """One platform event accepted for processing; its unique key makes a redelivery a no-op.

    Lives in the database rather than in memory so that Slack's retries and Telegram's redeliveries after
    a restart are still recognised.
    """

    __tablename__ = "channel_events"
    __table_args__ = (UniqueConstraint("channel", "event_key", name="uq_channel_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    # Slack: "event:<event_id>" and "message:<team>:<channel>:<ts>"; Telegram: "update:<update_id>".
    event_key: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set once every reply was delivered or recorded as failed; still empty after a crash mid-way.
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # On the event's first key only, until processed: the parsed event, so another process can answer it
    # after a crash. Cleared once processed, so that customer text is not kept twice.
    payload: Mapped[dict | None] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(255))  # the process answering it (core/processes.py)


class DeliveryRecord(Base):
    """One message sent (or to be sent) to a platform; failures stay here, never silently dropped."""

    __tablename__ = "channel_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    # The platform address: Slack {"channel", "thread_ts"}, Telegram {"chat_id", ...}.
    target: Mapped[dict] = mapped_column(JSON, default=dict)
    turn_id: Mapped[int | None] = mapped_column(Integer)  # the bot turn it carries, if any
    part: Mapped[int] = mapped_column(Integer, default=1)  # long replies are split into parts
    parts: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending / sent / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(255))  # the process sending it (core/processes.py)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
