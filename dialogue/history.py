"""Which conversation a front end shows again after a page reload: the sender's open one on that channel."""

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dialogue.records import ChannelIdentityRecord, ConversationRecord, ConversationStatus


def open_conversation_id(sessions: sessionmaker, channel: str, external_id: str) -> int | None:
    """The newest conversation of this sender on this channel that is not closed, or None."""
    with sessions() as session:
        return session.scalar(
            select(ConversationRecord.id)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == external_id,
                   ConversationRecord.channel == channel, ConversationRecord.status != ConversationStatus.CLOSED)
            .order_by(ConversationRecord.id.desc())
            .limit(1)
        )
