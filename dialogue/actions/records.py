"""What custom actions store: each conversation's form (slot values survive a restart) and each call made.

`action_runs` is the record of every call to the action server, one row per call, tied to the bot turn
that answered it: a failed call has `status` "failed", an `error_kind` (ActionErrorKind) and the detail.
This is where the admin transcript reads failures from, and what an `action.failed` event can be built on.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, utcnow


class FormStatus(StrEnum):
    ACTIVE = "active"  # asking for `requested_slot`
    OFFERED = "offered"  # left for an FAQ question; the customer was asked whether to go on


class ActionErrorKind(StrEnum):
    UNREACHABLE = "unreachable"  # connection refused, DNS, no endpoint configured
    TIMEOUT = "timeout"  # no answer within HELPDESK_ACTION_TIMEOUT
    NOT_FOUND = "not_found"  # 404: the server does not know the action
    REJECTED = "rejected"  # 400: the action refused to run
    DOMAIN = "domain"  # 449 again after the domain was sent
    SERVER_ERROR = "server_error"  # 500 or any other status
    BAD_RESPONSE = "bad_response"  # 200 with a body that is not Rasa's {"events", "responses"}


class FormStateRecord(Base):
    __tablename__ = "conversation_forms"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    action: Mapped[str | None] = mapped_column(String(100))  # the active loop; None: no form in progress
    status: Mapped[str | None] = mapped_column(String(16))  # a FormStatus value
    requested_slot: Mapped[str | None] = mapped_column(String(100))
    slots: Mapped[dict] = mapped_column(JSON, default=dict)  # every slot set in the conversation
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ActionRunRecord(Base):
    __tablename__ = "action_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    user_turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"))
    # The bot turn that answered (the first one when the action sent several messages).
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8), index=True)  # ok | failed
    error_kind: Mapped[str | None] = mapped_column(String(16))  # an ActionErrorKind value
    error: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    events: Mapped[list] = mapped_column(JSON, default=list)  # the events the server returned (ok runs)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
