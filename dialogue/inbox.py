"""The agents' side of a handoff: find conversations waiting for a person, read them, answer, hand back."""

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from core.database import utcnow
from dialogue.actions.results import runs_of_turns
from dialogue.errors import ConversationClosed, ConversationNotFound
from dialogue.messages import ReplyKind, TurnKind, TurnRole
from dialogue.records import (
    ChannelIdentityRecord,
    ConversationRecord,
    ConversationStatus,
    CustomerRecord,
    TurnRecord,
)


@dataclass(frozen=True)
class TurnView:
    id: int
    role: TurnRole
    text: str
    kind: ReplyKind | TurnKind  # a ReplyKind on bot turns
    sources: list
    feedback: int | None
    created_at: datetime
    rejected_reply: dict | None = None  # a generated reply the check stopped: {"text", "reasons"}
    action: dict | None = None  # the action server call this bot turn answered (dialogue/actions/records.py)
    extras: dict | None = None  # a custom action's buttons, image, custom payload


@dataclass(frozen=True)
class ConversationView:
    id: int
    channel: str
    sender_ids: list[str]
    status: str
    customer_name: str | None
    customer_email: str | None
    started_at: datetime
    last_activity_at: datetime
    turns: list[TurnView]
    language: str | None = None  # ISO 639-1, as dialogue/language.py decided it


class Inbox:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def page(self, status: ConversationStatus | None, offset: int, limit: int) -> tuple[list[ConversationView], int]:
        """Newest activity first, without turns."""
        with self.sessions() as session:
            query = select(ConversationRecord)
            if status:
                query = query.where(ConversationRecord.status == status)
            count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            records = session.scalars(
                query.order_by(ConversationRecord.last_activity_at.desc()).offset(offset).limit(limit)).all()
            return [self._view(session, record, with_turns=False) for record in records], count

    def get(self, conversation_id: int) -> ConversationView:
        with self.sessions() as session:
            return self._view(session, self._conversation(session, conversation_id), with_turns=True)

    def reply_as_agent(self, conversation_id: int, agent: str, text: str) -> tuple[TurnView, str]:
        """Store an agent's answer; the conversation stays with people until it is handed back.

        Returns the stored turn and the conversation's channel (where the answer has to reach the customer).
        """
        with self.sessions() as session:
            conversation = self._conversation(session, conversation_id)
            if conversation.status == ConversationStatus.CLOSED:
                raise ConversationClosed(f"Conversation {conversation_id} is closed; the customer has moved on.")
            conversation.set_status(ConversationStatus.HANDOFF, reason="agent")
            conversation.last_activity_at = utcnow()
            turn = TurnRecord(conversation_id=conversation_id, role=TurnRole.AGENT, text=text, kind=TurnKind.AGENT,
                              metadata_={"agent": agent})
            session.add(turn)
            session.commit()
            return _turn_view(turn), conversation.channel

    def set_status(self, conversation_id: int, status: ConversationStatus) -> ConversationView:
        with self.sessions() as session:
            conversation = self._conversation(session, conversation_id)
            conversation.set_status(status, reason="agent")
            session.commit()
            return self._view(session, conversation, with_turns=False)

    def _conversation(self, session, conversation_id: int) -> ConversationRecord:
        conversation = session.get(ConversationRecord, conversation_id)
        if conversation is None:
            raise ConversationNotFound(conversation_id)
        return conversation

    def _view(self, session, record: ConversationRecord, with_turns: bool) -> ConversationView:
        customer = session.get(CustomerRecord, record.customer_id)
        senders = session.scalars(select(ChannelIdentityRecord.external_id).where(
            ChannelIdentityRecord.customer_id == record.customer_id,
            ChannelIdentityRecord.channel == record.channel)).all()
        turns = []
        if with_turns:
            turns = [_turn_view(turn) for turn in session.scalars(
                select(TurnRecord).where(TurnRecord.conversation_id == record.id).order_by(TurnRecord.id))]
            runs = runs_of_turns(self.sessions, [turn.id for turn in turns])
            turns = [replace(turn, action=runs.get(turn.id)) for turn in turns]
        return ConversationView(record.id, record.channel, list(senders), record.status, customer.name,
                                customer.email, record.started_at, record.last_activity_at, turns, record.language)


def _turn_view(turn: TurnRecord) -> TurnView:
    bot = turn.role == TurnRole.BOT
    return TurnView(turn.id, TurnRole(turn.role), turn.text, ReplyKind(turn.kind) if bot else TurnKind(turn.kind),
                    list(turn.sources or []), turn.feedback, turn.created_at, turn.rejected_reply,
                    extras=(turn.metadata_ or None) if bot else None)
