"""What the dialogue manager stores: customers, their channel identities, conversations and turns."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from core.database import Base, utcnow
from dialogue.events import status_changed


class ConversationStatus(StrEnum):
    """Who has a conversation; stored as its value in `conversations.status`."""

    BOT = "bot"  # the bot answers
    HANDOFF = "handoff"  # a person was asked for: the bot stays quiet until an agent hands it back
    CLOSED = "closed"  # ended (/restart, idle timeout, an agent): the customer's next message opens a new one


class CustomerRecord(Base):
    """The person writing to the bot, whichever channels they write on; the profile they gave."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    # Free attributes (order numbers, plan, ...): JSON so that new facts need no migration.
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    identities: Mapped[list["ChannelIdentityRecord"]] = relationship(back_populates="customer")


class ChannelIdentityRecord(Base):
    """One customer as a channel knows them (a REST sender id, a Slack user, a Telegram chat)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When this sender id first came with proof (a signed token, the shared secret, a platform's signature): from
    # then on a message under it without proof is refused (dialogue/errors.py: SenderClaimed).
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    customer: Mapped[CustomerRecord] = relationship(back_populates="identities")


class ConversationRecord(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    # A ConversationStatus value; change it with set_status.
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.BOT, index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The language the customer writes in, ISO 639-1 ("de"), as dialogue/language.py decided it; None until the
    # first message.
    language: Mapped[str | None] = mapped_column(String(16))

    def set_status(self, status: ConversationStatus, reason: str | None = None) -> None:
        """The one way a status changes: `closed_at` is set when the conversation closes, cleared when it
        is reopened (an agent handing a closed conversation back to the bot). A handoff or a close is an
        event for webhook subscribers, in the same transaction; `reason`: customer, agent or timeout."""
        previous = self.status
        self.status = status
        self.closed_at = utcnow() if status == ConversationStatus.CLOSED else None
        if previous != status:
            status_changed(object_session(self), self, previous, reason)


class TurnRecord(Base):
    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(8))  # a dialogue.messages.TurnRole value
    text: Mapped[str] = mapped_column(Text)
    # dialogue.messages.TurnKind on user turns (message) and agent turns (agent); a ReplyKind value on bot turns
    kind: Mapped[str] = mapped_column(String(16))
    # The retrieval query after follow-up rewriting (user turns only).
    search_query: Mapped[str | None] = mapped_column(Text)
    sources: Mapped[list] = mapped_column(JSON, default=list)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    # User turns from platforms: "<channel>:<event key>", so a message replayed after a crash is recorded once.
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[str | None] = mapped_column(String(255))
    # Bot turns: a generated reply the check stopped, {"text", "reasons"}; the turn's text is what was sent.
    rejected_reply: Mapped[dict | None] = mapped_column(JSON)
    # Bot turns that handed the conversation to a person: why (dialogue.messages.HandoffReason).
    handoff_reason: Mapped[str | None] = mapped_column(String(16))
    # Customer feedback on a bot turn: 1 thumbs up, -1 thumbs down.
    feedback: Mapped[int | None] = mapped_column(Integer)
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
