"""A customer's current conversation as a front end shows it again, e.g. after a page reload."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dialogue.messages import Source
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord


@dataclass(frozen=True)
class PastTurn:
    turn_id: int
    role: str  # user / bot / agent
    text: str
    kind: str  # "message" for user turns; the reply kind for bot turns
    sources: list[Source]
    feedback: int | None  # 1 thumbs up, -1 thumbs down, on bot turns


@dataclass(frozen=True)
class ConversationView:
    conversation_id: int
    status: str  # bot / handoff
    turns: list[PastTurn]  # oldest first


def current_conversation(sessions: sessionmaker, channel: str, external_id: str,
                         limit: int = 200) -> ConversationView | None:
    """The open conversation of this sender on this channel with its last `limit` turns, or None."""
    with sessions() as session:
        conversation = session.scalar(
            select(ConversationRecord)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.user_id == ConversationRecord.user_id)
            .where(ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == external_id,
                   ConversationRecord.channel == channel, ConversationRecord.status != "closed")
            .order_by(ConversationRecord.id.desc())
        )
        if conversation is None:
            return None
        records = session.scalars(
            select(TurnRecord).where(TurnRecord.conversation_id == conversation.id)
            .order_by(TurnRecord.id.desc()).limit(limit)
        ).all()
        turns = [_past(record) for record in reversed(records)]
        return ConversationView(conversation.id, conversation.status, turns)


def _past(record: TurnRecord) -> PastTurn:
    sources = [Source(id=item["id"], title=item["title"]) for item in record.sources or []]
    return PastTurn(record.id, record.role, record.text, record.kind, sources, record.feedback)
