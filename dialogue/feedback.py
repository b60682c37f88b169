"""A customer's thumbs up or down on a bot reply, stored on its turn and told to webhook subscribers."""

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from core.database import utcnow
from dialogue import events
from dialogue.errors import TurnNotFound
from dialogue.messages import TurnRole
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord


def record_feedback(sessions: sessionmaker, channel: str, sender_id: str, turn_id: int, rating: int) -> None:
    """Store thumbs up (1) / down (-1) on a bot turn, only if that turn was said to this sender."""
    with sessions() as session:
        turn = session.scalar(
            select(TurnRecord)
            .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(TurnRecord.id == turn_id, TurnRecord.role == TurnRole.BOT,
                   ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == sender_id)
        )
        if turn is None:
            raise TurnNotFound(f"No bot message {turn_id} in a conversation of sender {sender_id!r} on {channel}.")
        turn.feedback, turn.feedback_at = rating, utcnow()
        events.feedback_received(session, turn.conversation_id, turn, turn.feedback_at)
        session.commit()
