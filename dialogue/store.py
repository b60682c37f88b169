"""Reads and writes of customers, conversations and turns, in short transactions."""

from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.database import utcnow
from dialogue import events
from dialogue.errors import MessageIdReused, SenderClaimed, TurnNotFound
from dialogue.messages import HistoryEntry, InboundMessage, Reply, ReplyKind, Source, TurnKind, TurnRole
from dialogue.profile import Profile, ProfileUpdate
from dialogue.records import (
    ChannelIdentityRecord, ConversationRecord, ConversationStatus, TurnRecord, UserRecord,
)


@dataclass(frozen=True)
class OpenedTurn:
    user_id: int
    conversation_id: int
    conversation_status: ConversationStatus
    turn_id: int
    replayed: bool = False  # the message was recorded before (same message_id): a replay after a crash
    language: str | None = None  # the conversation's language before this message (dialogue/language.py)
    # Set by DialogueManager from InboundMessage.verified: only then is the stored profile read back.
    verified: bool = False


class ConversationStore:
    def __init__(self, sessions: sessionmaker, conversation_timeout: timedelta):
        self.sessions = sessions
        self.conversation_timeout = conversation_timeout

    def record_user_message(self, message: InboundMessage, text: str) -> OpenedTurn:
        """Commit what the customer wrote before anything else runs, so a crash can never lose it.

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
            if not message.verified:
                self.refuse_if_claimed(message.channel, message.sender_id)
            return earlier
        with self.sessions() as session:
            user_id = self._user_for(session, message.channel, message.sender_id, message.verified)
            conversation = self._open_conversation(session, user_id, message.channel, message.sender_id)
            if external_id is None and (copy := self._unanswered_copy(session, conversation.id, text)):
                session.commit()  # a conversation that timed out above stays closed
                return OpenedTurn(user_id, conversation.id, conversation.status, copy, replayed=True,
                                  language=conversation.language)
            turn = TurnRecord(conversation_id=conversation.id, role=TurnRole.USER, text=text, kind=TurnKind.MESSAGE,
                              metadata_=message.metadata or {}, external_id=external_id)
            session.add(turn)
            conversation.last_activity_at = utcnow()
            try:
                session.flush()
                events.message_received(session, conversation, turn)
                session.commit()
            except IntegrityError:
                if external_id is None or not (earlier := self._replayed(external_id, text)):
                    raise
                return earlier  # recorded by another process a moment ago
            return OpenedTurn(user_id, conversation.id, conversation.status, turn.id, language=conversation.language)

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
                select(TurnRecord.id, ConversationRecord.id, ConversationRecord.user_id, ConversationRecord.status,
                       TurnRecord.text, ConversationRecord.language)
                .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
                .where(TurnRecord.external_id == external_id)
            ).first()
        if row is None:
            return None
        turn_id, conversation_id, user_id, status, stored_text, language = row
        if stored_text != text:
            raise MessageIdReused()
        return OpenedTurn(user_id, conversation_id, status, turn_id, replayed=True, language=language)

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

    def _user_for(self, session: Session, channel: str, external_id: str, verified: bool) -> int:
        """The customer id of this sender (one query when known; registered when new). The first message with
        proof claims the id; a later one without proof raises SenderClaimed."""
        known = select(ChannelIdentityRecord).where(
            ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == external_id)
        identity = session.scalar(known)
        if identity is None:
            user = UserRecord(attributes={})
            session.add(user)
            session.flush()
            try:
                with session.begin_nested():
                    session.add(ChannelIdentityRecord(channel=channel, external_id=external_id, user_id=user.id,
                                                      claimed_at=utcnow() if verified else None))
                return user.id
            except IntegrityError:
                # Another process registered this sender at the same moment: use its customer.
                session.delete(user)
                identity = session.scalar(known)
        if identity.claimed_at is None and verified:
            identity.claimed_at = utcnow()
        elif identity.claimed_at is not None and not verified:
            raise SenderClaimed(external_id)
        return identity.user_id

    def _open_conversation(self, session: Session, user_id: int, channel: str, sender_id: str) -> ConversationRecord:
        conversation = session.scalar(
            select(ConversationRecord)
            .where(ConversationRecord.user_id == user_id, ConversationRecord.channel == channel,
                   ConversationRecord.status != ConversationStatus.CLOSED)
            .order_by(ConversationRecord.id.desc())
        )
        now = utcnow()
        if conversation is not None and _aware(conversation.last_activity_at) + self.conversation_timeout < now:
            conversation.set_status(ConversationStatus.CLOSED, reason="timeout")
            conversation = None
        if conversation is None:
            conversation = ConversationRecord(user_id=user_id, channel=channel, status=ConversationStatus.BOT)
            session.add(conversation)
            session.flush()
            events.conversation_started(session, conversation, sender_id)
        return conversation

    def set_search_query(self, turn_id: int, query: str) -> None:
        with self.sessions() as session:
            session.get(TurnRecord, turn_id).search_query = query
            session.commit()

    def previous_queries(self, conversation_id: int, before_turn: int, limit: int = 2) -> list[str]:
        """The customer's earlier queries (rewritten where they were follow-ups), oldest first."""
        with self.sessions() as session:
            texts = session.scalars(
                select(func.coalesce(TurnRecord.search_query, TurnRecord.text))
                .where(TurnRecord.conversation_id == conversation_id, TurnRecord.role == TurnRole.USER,
                       TurnRecord.id < before_turn)
                .order_by(TurnRecord.id.desc()).limit(limit)
            ).all()
        return texts[::-1]

    def last_bot_kind(self, conversation_id: int, before_turn: int) -> str | None:
        """The kind (faq, fallback, ...) of the bot's last reply before `before_turn`, if there was one."""
        with self.sessions() as session:
            return session.scalar(
                select(TurnRecord.kind)
                .where(TurnRecord.conversation_id == conversation_id, TurnRecord.role == TurnRole.BOT,
                       TurnRecord.id < before_turn)
                .order_by(TurnRecord.id.desc()).limit(1))

    def history(self, conversation_id: int, before_turn: int, limit: int = 12) -> list[HistoryEntry]:
        """The turns before `before_turn`, oldest first."""
        with self.sessions() as session:
            rows = session.execute(
                select(TurnRecord.role, TurnRecord.text)
                .where(TurnRecord.conversation_id == conversation_id, TurnRecord.id < before_turn)
                .order_by(TurnRecord.id.desc()).limit(limit)
            ).all()
        return [HistoryEntry(TurnRole(role), text) for role, text in rows[::-1]]

    def profile(self, user_id: int) -> Profile:
        with self.sessions() as session:
            user = session.get(UserRecord, user_id)
            return Profile(user.name, user.email, user.phone, list(user.attributes.get("order_numbers", [])))

    def update_profile(self, user_id: int, update: ProfileUpdate) -> None:
        with self.sessions() as session:
            user = session.get(UserRecord, user_id)
            user.name = update.name or user.name
            user.email = update.email or user.email
            user.phone = update.phone or user.phone
            if update.order_numbers:
                known = list(user.attributes.get("order_numbers", []))
                user.attributes = {**user.attributes,
                                   "order_numbers": list(dict.fromkeys(known + update.order_numbers))}
            user.updated_at = utcnow()
            session.commit()

    def set_language(self, conversation_id: int, language: str) -> None:
        with self.sessions() as session:
            session.get(ConversationRecord, conversation_id).language = language
            session.commit()

    def set_status(self, conversation_id: int, status: ConversationStatus) -> None:
        with self.sessions() as session:
            session.get(ConversationRecord, conversation_id).set_status(status, reason="customer")
            session.commit()

    def record_reply(self, reply: Reply, latency_ms: float, model_id: str | None) -> int:
        """Store the bot turn; returns its id."""
        with self.sessions() as session:
            turn = TurnRecord(
                conversation_id=reply.conversation_id, role=TurnRole.BOT, text=reply.text, kind=reply.kind.value,
                sources=[source.to_record() for source in reply.sources],
                latency_ms=latency_ms, model_id=model_id, rejected_reply=reply.rejected, metadata_=reply.extras(),
                handoff_reason=reply.handoff.value if reply.handoff else None,
            )
            session.add(turn)
            session.flush()
            conversation = session.get(ConversationRecord, reply.conversation_id)
            events.message_answered(session, conversation, turn)
            conversation.last_activity_at = utcnow()
            session.commit()
            return turn.id


def _aware(moment):
    # SQLite hands back naive datetimes even for timezone-aware columns; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_feedback(sessions: sessionmaker, channel: str, sender_id: str, turn_id: int, rating: int) -> None:
    """Store thumbs up (1) / down (-1) on a bot turn, only if that turn was said to this sender."""
    with sessions() as session:
        turn = session.scalar(
            select(TurnRecord)
            .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.user_id == ConversationRecord.user_id)
            .where(TurnRecord.id == turn_id, TurnRecord.role == TurnRole.BOT,
                   ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == sender_id)
        )
        if turn is None:
            raise TurnNotFound(f"No bot message {turn_id} in a conversation of sender {sender_id!r} on {channel}.")
        turn.feedback, turn.feedback_at = rating, utcnow()
        events.feedback_received(session, turn.conversation_id, turn, turn.feedback_at)
        session.commit()
