"""One retention pass: conversations idle since a cutoff deleted or anonymised, with their channel records."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from bot.support.customers import event_keys
from dialogue.actions.records import ActionRunRecord, FormStateRecord
from dialogue.records import ChannelIdentityRecord, ConversationRecord, CustomerRecord, TurnRecord

REMOVED_TEXT = "<removed after the retention period>"
MODES = ("delete", "anonymise")


@dataclass(frozen=True)
class Purged:
    conversations: int
    customers: int
    channel_events: int
    deliveries: int


def purge(sessions: sessionmaker, cutoff: datetime, mode: str = "delete") -> Purged:
    """Delete (or anonymise) conversations last active before `cutoff`, in one transaction, with their
    channel records, and customers left with no conversation who were last seen before it."""
    if mode not in MODES:
        raise ValueError(f"retention mode {mode!r}: use one of {', '.join(MODES)}")
    with sessions() as session:
        old = list(session.scalars(select(ConversationRecord.id).where(ConversationRecord.last_activity_at < cutoff)))
        turns = list(session.scalars(select(TurnRecord).where(TurnRecord.conversation_id.in_(old))))
        keys = event_keys(turns)
        events = [row.id for row in session.execute(
            select(ChannelEventRecord.id, ChannelEventRecord.channel, ChannelEventRecord.event_key,
                   ChannelEventRecord.received_at)
            .where(ChannelEventRecord.event_key.in_({key for _, key in keys})
                   | (ChannelEventRecord.received_at < cutoff)))
            if (row.channel, row.event_key) in keys or _before(row.received_at, cutoff)]
        deliveries = list(session.scalars(select(DeliveryRecord.id).where(
            DeliveryRecord.turn_id.in_([turn.id for turn in turns]) | (DeliveryRecord.created_at < cutoff))))
        if mode == "delete":
            customers = _delete(session, old, events, deliveries, cutoff)
        else:
            customers = _anonymise(session, old, events, deliveries, cutoff)
        session.commit()
    return Purged(len(old), customers, len(events), len(deliveries))


def _delete(session: Session, conversations: list[int], events: list[int], deliveries: list[int],
            cutoff: datetime) -> int:
    session.execute(delete(ChannelEventRecord).where(ChannelEventRecord.id.in_(events)))
    session.execute(delete(DeliveryRecord).where(DeliveryRecord.id.in_(deliveries)))
    session.execute(delete(TurnRecord).where(TurnRecord.conversation_id.in_(conversations)))
    session.execute(delete(ConversationRecord).where(ConversationRecord.id.in_(conversations)))
    gone = list(session.scalars(select(CustomerRecord.id)
                                .where(CustomerRecord.updated_at < cutoff, ~_has_conversations())))
    session.execute(delete(ChannelIdentityRecord).where(ChannelIdentityRecord.customer_id.in_(gone)))
    session.execute(delete(CustomerRecord).where(CustomerRecord.id.in_(gone)))
    return len(gone)


def _anonymise(session: Session, conversations: list[int], events: list[int], deliveries: list[int],
               cutoff: datetime) -> int:
    """Turns keep role, kind, sources, feedback and timings (the figures in /admin/analytics); their text goes.
    Customers with nothing recent lose their profile and channel identities."""
    session.execute(update(TurnRecord).where(TurnRecord.conversation_id.in_(conversations))
                    .values(text=REMOVED_TEXT, search_query=None, metadata_={}, rejected_reply=None))
    session.execute(update(ChannelEventRecord).where(ChannelEventRecord.id.in_(events)).values(payload=None))
    session.execute(update(FormStateRecord).where(FormStateRecord.conversation_id.in_(conversations)).values(slots={}))
    session.execute(update(ActionRunRecord).where(ActionRunRecord.conversation_id.in_(conversations)).values(events=[]))
    session.execute(update(DeliveryRecord).where(DeliveryRecord.id.in_(deliveries))
                    .values(text=REMOVED_TEXT, target={}))
    recent = exists(select(ConversationRecord.id).where(ConversationRecord.customer_id == CustomerRecord.id,
                                                        ConversationRecord.last_activity_at >= cutoff))
    faded = list(session.scalars(select(CustomerRecord.id).where(CustomerRecord.updated_at < cutoff, ~recent)))
    session.execute(update(CustomerRecord).where(CustomerRecord.id.in_(faded))
                    .values(name=None, email=None, phone=None, attributes={}))
    session.execute(delete(ChannelIdentityRecord).where(ChannelIdentityRecord.customer_id.in_(faded)))
    return len(faded)


def _has_conversations():
    return exists(select(ConversationRecord.id).where(ConversationRecord.customer_id == CustomerRecord.id))


def _before(moment: datetime, cutoff: datetime) -> bool:
    # SQLite hands back naive datetimes (stored in UTC).
    return (moment if moment.tzinfo else moment.replace(tzinfo=cutoff.tzinfo)) < cutoff
