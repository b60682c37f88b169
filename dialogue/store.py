"""Reads and writes of customers, conversations and turns, in short transactions.

One customer message is one unit of work here: `record_user_message` commits the message (before anything else
runs, so a crash cannot lose it), settles the conversation's language and reads what answering it needs (the
TurnContext) in one transaction; `record_reply` writes the answer with what the turn decided (TurnWrites) in a
second. Only a profile update and the actions' own records write in between.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.database import as_utc, utcnow
from dialogue import events
from dialogue.errors import MessageIdReused, SenderClaimed
from dialogue.messages import (
    HistoryEntry,
    InboundMessage,
    Reply,
    ReplyKind,
    Source,
    TurnKind,
    TurnRole,
    stored_payloads,
)
from dialogue.profile import Profile, ProfileUpdate
from dialogue.records import (
    ChannelIdentityRecord,
    ConversationRecord,
    ConversationStatus,
    CustomerRecord,
    TurnRecord,
)

HISTORY_TURNS = 12  # what the prompt may quote of the conversation
PREVIOUS_QUERIES = 2  # what a follow-up is read against (dialogue/context.py)


@dataclass(frozen=True)
class TurnContext:
    """What answering a message reads of its conversation, read with the message."""

    profile: Profile  # as stored before this message (a self-description in it is the manager's to add)
    history: list[HistoryEntry]  # the turns before this one, oldest first
    previous_queries: list[str]  # the customer's earlier queries (rewritten where they were follow-ups)
    last_bot_kind: str | None  # the kind of the bot's last reply before this message
    last_bot_choices: list[str] = field(default_factory=list)  # the payloads of its buttons


@dataclass
class TurnWrites:
    """What a turn decided besides its reply, written with the reply (ConversationStore.record_reply)."""

    status: ConversationStatus | None = None
    search_query: str | None = None  # the query searched when it is not the message (a follow-up, a rewrite)


@dataclass(frozen=True)
class OpenedTurn:
    customer_id: int
    conversation_id: int
    conversation_status: ConversationStatus
    turn_id: int
    replayed: bool = False  # the message was recorded before (same message_id): a replay after a crash
    language: str | None = None  # the conversation's language after this message (dialogue/language.py)
    # Set by DialogueManager from InboundMessage.verified: only then is the stored profile read back.
    verified: bool = False
    context: TurnContext | None = None
    writes: TurnWrites = field(default_factory=TurnWrites)


class ConversationStore:
    def __init__(self, sessions: sessionmaker, conversation_timeout: timedelta):
        self.sessions = sessions
        self.conversation_timeout = conversation_timeout

    def record_user_message(self, message: InboundMessage, text: str,
                            language: Callable[[str | None], str] | None = None) -> OpenedTurn:
        """Commit what the customer wrote before anything else runs, so a crash can never lose it, with the
        conversation's language after it (`language`: from the conversation's language before it) and the
        TurnContext, in one transaction.

        A resend is not recorded again: the earlier turn is returned, marked `replayed`. A resend is a
        message with a `message_id` seen before (the same text, or `MessageIdReused`), or, for messages
        without an id, the same text as the conversation's last turn while that turn is still unanswered:
        the sender's messages are answered one at a time, so an unanswered last turn is one whose answer a
        crash or an error cut off, and the customer is sending it again.

        A sender id that once came with proof (`message.verified`) is claimed: a message without proof under it
        raises SenderClaimed, and nothing of it is stored.
        """
        external_id = f"{message.channel}:{message.message_id}" if message.message_id else None
        if external_id and (earlier := self._replayed(external_id, text)):
            with self.sessions() as session:
                self._customer_for(session, message.channel, message.sender_id, message.verified)  # SenderClaimed
                opened = self._opened(session, earlier, session.get(ConversationRecord, earlier.conversation_id),
                                      language)
                session.commit()
            return opened
        with self.sessions() as session:
            customer_id = self._customer_for(session, message.channel, message.sender_id, message.verified)
            conversation = self._open_conversation(session, customer_id, message.channel, message.sender_id)
            if external_id is None and (copy := self._unanswered_copy(session, conversation.id, text)):
                opened = self._opened(session, OpenedTurn(customer_id, conversation.id, conversation.status, copy,
                                                          replayed=True), conversation, language)
                session.commit()  # a conversation that timed out above stays closed
                return opened
            turn = TurnRecord(conversation_id=conversation.id, role=TurnRole.USER, text=text, kind=TurnKind.MESSAGE,
                              metadata_=message.metadata or {}, external_id=external_id)
            session.add(turn)
            conversation.last_activity_at = utcnow()
            try:
                session.flush()
                events.message_received(session, conversation, turn)
                opened = self._opened(session, OpenedTurn(customer_id, conversation.id, conversation.status, turn.id),
                                      conversation, language)
                session.commit()
            except IntegrityError:
                if external_id is None or not (earlier := self._replayed(external_id, text)):
                    raise
                return self.record_user_message(message, text, language)  # recorded by another process just now
            return opened

    def _opened(self, session: Session, turn: OpenedTurn, conversation: ConversationRecord,
                language: Callable[[str | None], str] | None) -> OpenedTurn:
        """`turn` with the conversation's language after it (stored when it changes) and its TurnContext."""
        chosen = language(conversation.language) if language else conversation.language
        if chosen != conversation.language:
            conversation.language = chosen
        customer = session.get(CustomerRecord, turn.customer_id)
        before = (TurnRecord.conversation_id == turn.conversation_id, TurnRecord.id < turn.turn_id)
        history = session.execute(select(TurnRecord.role, TurnRecord.text).where(*before)
                                  .order_by(TurnRecord.id.desc()).limit(HISTORY_TURNS)).all()
        queries = session.scalars(select(func.coalesce(TurnRecord.search_query, TurnRecord.text))
                                  .where(*before, TurnRecord.role == TurnRole.USER)
                                  .order_by(TurnRecord.id.desc()).limit(PREVIOUS_QUERIES)).all()
        last_bot = session.execute(select(TurnRecord.kind, TurnRecord.metadata_)
                                   .where(*before, TurnRecord.role == TurnRole.BOT)
                                   .order_by(TurnRecord.id.desc()).limit(1)).first()
        choices = stored_payloads(last_bot[1]) if last_bot else []
        context = TurnContext(_profile(customer), [HistoryEntry(TurnRole(role), text) for role, text in history[::-1]],
                              list(queries[::-1]), last_bot[0] if last_bot else None, choices)
        return dataclasses.replace(turn, language=chosen, context=context)

    @staticmethod
    def _unanswered_copy(session: Session, conversation_id: int, text: str) -> int | None:
        last = session.execute(
            select(TurnRecord.id, TurnRecord.role, TurnRecord.text)
            .where(TurnRecord.conversation_id == conversation_id).order_by(TurnRecord.id.desc()).limit(1)
        ).first()
        return last.id if last is not None and last.role == TurnRole.USER and last.text == text else None

    def _replayed(self, external_id: str, text: str) -> OpenedTurn | None:
        with self.sessions() as session:
            row = session.execute(
                select(TurnRecord.id, ConversationRecord.id, ConversationRecord.customer_id, ConversationRecord.status,
                       TurnRecord.text, ConversationRecord.language)
                .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
                .where(TurnRecord.external_id == external_id)
            ).first()
        if row is None:
            return None
        turn_id, conversation_id, customer_id, status, stored_text, language = row
        if stored_text != text:
            raise MessageIdReused()
        return OpenedTurn(customer_id, conversation_id, status, turn_id, replayed=True, language=language)

    def stored_reply(self, turn: OpenedTurn) -> Reply | None:
        """The bot turn that answered user turn `turn`, if it was recorded (the next bot turn before the
        customer's next message)."""
        with self.sessions() as session:
            later = select(TurnRecord).where(TurnRecord.conversation_id == turn.conversation_id,
                                             TurnRecord.id > turn.turn_id).order_by(TurnRecord.id)
            for record in session.scalars(later):
                if record.role == TurnRole.USER:
                    return None
                if record.role == TurnRole.BOT:
                    sources = [Source.from_record(source) for source in record.sources or []]
                    return Reply(record.text, ReplyKind(record.kind), turn.conversation_id, sources,
                                 turn_id=record.id)
        return None

    def refuse_if_claimed(self, channel: str, external_id: str) -> None:
        """Raises SenderClaimed if this sender id has come with proof before (for a message without it)."""
        with self.sessions() as session:
            claimed = session.scalar(select(ChannelIdentityRecord.claimed_at).where(
                ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == external_id))
        if claimed is not None:
            raise SenderClaimed(external_id)

    def _customer_for(self, session: Session, channel: str, external_id: str, verified: bool) -> int:
        """The customer id of this sender (one query when known; registered when new). The first message with
        proof claims the id; a later one without proof raises SenderClaimed."""
        known = select(ChannelIdentityRecord).where(
            ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == external_id)
        identity = session.scalar(known)
        if identity is None:
            customer = CustomerRecord(attributes={})
            session.add(customer)
            session.flush()
            try:
                with session.begin_nested():
                    session.add(ChannelIdentityRecord(channel=channel, external_id=external_id, customer_id=customer.id,
                                                      claimed_at=utcnow() if verified else None))
                return customer.id
            except IntegrityError:
                # Another process registered this sender at the same moment: use its customer.
                session.delete(customer)
                identity = session.scalar(known)
        if identity.claimed_at is None and verified:
            identity.claimed_at = utcnow()
        elif identity.claimed_at is not None and not verified:
            raise SenderClaimed(external_id)
        return identity.customer_id

    def _open_conversation(self, session: Session, customer_id: int, channel: str,
                           sender_id: str) -> ConversationRecord:
        conversation = session.scalar(
            select(ConversationRecord)
            .where(ConversationRecord.customer_id == customer_id, ConversationRecord.channel == channel,
                   ConversationRecord.status != ConversationStatus.CLOSED)
            .order_by(ConversationRecord.id.desc())
        )
        now = utcnow()
        if conversation is not None and as_utc(conversation.last_activity_at) + self.conversation_timeout < now:
            conversation.set_status(ConversationStatus.CLOSED, reason="timeout")
            conversation = None
        if conversation is None:
            conversation = ConversationRecord(customer_id=customer_id, channel=channel, status=ConversationStatus.BOT)
            session.add(conversation)
            session.flush()
            events.conversation_started(session, conversation, sender_id)
        return conversation

    def profile(self, customer_id: int) -> Profile:
        with self.sessions() as session:
            return _profile(session.get(CustomerRecord, customer_id))

    def update_profile(self, customer_id: int, update: ProfileUpdate) -> None:
        with self.sessions() as session:
            customer = session.get(CustomerRecord, customer_id)
            profile = _profile(customer).updated(update)  # the one merge rule, also what the turn answers from
            customer.name, customer.email, customer.phone = profile.name, profile.email, profile.phone
            if update.order_numbers:
                customer.attributes = {**customer.attributes, "order_numbers": profile.order_numbers}
            customer.updated_at = utcnow()
            session.commit()

    def set_status(self, conversation_id: int, status: ConversationStatus) -> None:
        with self.sessions() as session:
            session.get(ConversationRecord, conversation_id).set_status(status, reason="customer")
            session.commit()

    def record_reply(self, reply: Reply, latency_ms: float, model_id: str | None,
                     writes: TurnWrites | None = None, asked_turn: int | None = None) -> int:
        """Store the bot turn, with what the turn decided (`writes`; `asked_turn`: the customer's turn it answers,
        for its search query); returns its id."""
        with self.sessions() as session:
            conversation = session.get(ConversationRecord, reply.conversation_id)
            if writes is not None and writes.status is not None:
                conversation.set_status(writes.status, reason="customer")
            if writes is not None and writes.search_query is not None and asked_turn is not None:
                session.get(TurnRecord, asked_turn).search_query = writes.search_query
            turn = TurnRecord(
                conversation_id=reply.conversation_id, role=TurnRole.BOT, text=reply.text, kind=reply.kind.value,
                sources=[source.to_record() for source in reply.sources],
                latency_ms=latency_ms, model_id=model_id, rejected_reply=reply.rejected, metadata_=reply.extras(),
                handoff_reason=reply.handoff.value if reply.handoff else None,
            )
            session.add(turn)
            session.flush()
            events.message_answered(session, conversation, turn)
            conversation.last_activity_at = utcnow()
            session.commit()
            return turn.id


def _profile(customer: CustomerRecord) -> Profile:
    return Profile(customer.name, customer.email, customer.phone, list(customer.attributes.get("order_numbers", [])))
