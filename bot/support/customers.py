"""One customer's data: find them by channel identity, export everything kept about them, erase it.

Erasure runs in one database transaction (profile, identities, conversations, turns with their feedback,
the channel events and deliveries of their messages, an audit entry that names who erased which id and
the counts, never the content) and then swaps in the training dataset files without their examples,
staged before the commit (training/erasure.py).
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from dialogue.errors import CustomerNotFound
from dialogue.messages import TurnRole
from dialogue.records import ChannelIdentityRecord, ConversationRecord, CustomerRecord, TurnRecord
from core.audit import audit
from training.erasure import stage_removals


@dataclass(frozen=True)
class CustomerSummary:
    id: int
    channel: str
    sender_id: str
    name: str | None
    conversations: int
    created_at: datetime


@dataclass(frozen=True)
class Erased:
    conversations: int
    turns: int
    identities: int
    channel_events: int
    deliveries: int
    training_examples: int


def find_customers(sessions: sessionmaker, channel: str | None, sender_id: str | None) -> list[CustomerSummary]:
    query = (select(ChannelIdentityRecord, CustomerRecord)
             .join(CustomerRecord, CustomerRecord.id == ChannelIdentityRecord.customer_id)
             .order_by(CustomerRecord.id))
    if channel:
        query = query.where(ChannelIdentityRecord.channel == channel)
    if sender_id:
        query = query.where(ChannelIdentityRecord.external_id == sender_id)
    with sessions() as session:
        rows = session.execute(query.limit(1000)).all()
        counts = dict(session.execute(
            select(ConversationRecord.customer_id, func.count()).where(
                ConversationRecord.customer_id.in_({customer.id for _, customer in rows}))
            .group_by(ConversationRecord.customer_id)).all())
        return [CustomerSummary(customer.id, identity.channel, identity.external_id, customer.name,
                                counts.get(customer.id, 0), customer.created_at) for identity, customer in rows]


def export_customer(sessions: sessionmaker, customer_id: int) -> dict[str, Any]:
    """Everything stored about one customer, as JSON-ready data."""
    with sessions() as session:
        customer = _customer(session, customer_id)
        conversations = session.scalars(select(ConversationRecord)
                                        .where(ConversationRecord.customer_id == customer_id)
                                        .order_by(ConversationRecord.id)).all()
        turns = _turns(session, [conversation.id for conversation in conversations])
        return {
            "customer": {"id": customer.id, "name": customer.name, "email": customer.email, "phone": customer.phone,
                         "attributes": customer.attributes or {}, "created_at": _iso(customer.created_at),
                         "updated_at": _iso(customer.updated_at)},
            "identities": [{"channel": identity.channel, "sender_id": identity.external_id,
                            "created_at": _iso(identity.created_at)} for identity in customer.identities],
            "conversations": [_conversation(conversation, [t for t in turns if t.conversation_id == conversation.id])
                              for conversation in conversations],
            "feedback": [{"turn_id": turn.id, "conversation_id": turn.conversation_id, "rating": turn.feedback,
                          "at": _iso(turn.feedback_at)} for turn in turns if turn.feedback is not None],
        }


def erase_customer(sessions: sessionmaker, customer_id: int, actor: str, registry_root: Path) -> Erased:
    """Delete everything about one customer in one transaction, then their training examples."""
    with sessions() as session:
        customer = _customer(session, customer_id)
        identities = [(identity.channel, identity.external_id) for identity in customer.identities]
        conversation_ids = list(session.scalars(select(ConversationRecord.id)
                                                .where(ConversationRecord.customer_id == customer_id)))
        turns = _turns(session, conversation_ids)
        staged = stage_removals(registry_root, {turn.text for turn in turns if turn.role == TurnRole.USER})
        try:
            events = _channel_events(session, turns, identities)
            deliveries = _deliveries(session, [turn.id for turn in turns], identities)
            session.execute(delete(ChannelEventRecord).where(ChannelEventRecord.id.in_(events)))
            session.execute(delete(DeliveryRecord).where(DeliveryRecord.id.in_(deliveries)))
            session.execute(delete(TurnRecord).where(TurnRecord.conversation_id.in_(conversation_ids)))
            session.execute(delete(ConversationRecord).where(ConversationRecord.id.in_(conversation_ids)))
            session.execute(delete(ChannelIdentityRecord).where(ChannelIdentityRecord.customer_id == customer_id))
            session.execute(delete(CustomerRecord).where(CustomerRecord.id == customer_id))
            erased = Erased(len(conversation_ids), len(turns), len(identities), len(events), len(deliveries),
                            sum(file.removed for file in staged))
            audit(session, actor, "customer.erase", f"customer:{customer_id}", **asdict(erased))
            session.commit()
        except BaseException:
            for file in staged:
                file.discard()
            raise
    for file in staged:
        file.apply()
    return erased


def audit_export(sessions: sessionmaker, customer_id: int, actor: str) -> None:
    with sessions() as session:
        audit(session, actor, "customer.export", f"customer:{customer_id}")
        session.commit()


def _customer(session: Session, customer_id: int) -> CustomerRecord:
    customer = session.get(CustomerRecord, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


def _turns(session: Session, conversation_ids: list[int]) -> list[TurnRecord]:
    return list(session.scalars(select(TurnRecord).where(TurnRecord.conversation_id.in_(conversation_ids))
                                .order_by(TurnRecord.id)))


def event_keys(turns: list[TurnRecord]) -> set[tuple[str, str]]:
    """(channel, event key) of the platform events these turns came from (see bot/connectors/slack.py)."""
    keys = set()
    for turn in turns:
        if turn.external_id and ":" in turn.external_id:
            keys.add(tuple(turn.external_id.split(":", 1)))
        meta = turn.metadata_ or {}
        if all(isinstance(meta.get(name), str) for name in ("slack_team", "slack_channel", "slack_ts")):
            keys.add(("slack", f"message:{meta['slack_team']}:{meta['slack_channel']}:{meta['slack_ts']}"))
    return keys


def _channel_events(session: Session, turns: list[TurnRecord], identities: list[tuple[str, str]]) -> list[int]:
    keys = event_keys(turns)
    ids = [row.id for row in session.execute(
        select(ChannelEventRecord.id, ChannelEventRecord.channel, ChannelEventRecord.event_key)
        .where(ChannelEventRecord.event_key.in_({key for _, key in keys}))) if (row.channel, row.event_key) in keys]
    # Accepted but not answered yet: the stored payload names the sender.
    pending = session.execute(select(ChannelEventRecord.id, ChannelEventRecord.payload)
                              .where(ChannelEventRecord.payload.is_not(None))).all()
    for row_id, payload in pending:
        message = (payload or {}).get("message") or {}
        if (message.get("channel"), message.get("sender_id")) in identities:
            ids.append(row_id)
    return sorted(set(ids))


def _deliveries(session: Session, turn_ids: list[int], identities: list[tuple[str, str]]) -> list[int]:
    ids = list(session.scalars(select(DeliveryRecord.id).where(DeliveryRecord.turn_id.in_(turn_ids))))
    notices = session.execute(select(DeliveryRecord.id, DeliveryRecord.channel, DeliveryRecord.target)
                              .where(DeliveryRecord.turn_id.is_(None))).all()
    ids += [row_id for row_id, channel, target in notices if _addressed_to(channel, target or {}, identities)]
    return sorted(set(ids))


def _addressed_to(channel: str, target: dict, identities: list[tuple[str, str]]) -> bool:
    """Whether a notice (no bot turn: a welcome, "sorry") went to one of these identities."""
    for identity_channel, sender in identities:
        if channel != identity_channel:
            continue
        if channel == "telegram" and str(target.get("chat_id")) == sender:
            return True
        if channel == "slack":
            parts = sender.split(":")
            if len(parts) >= 2 and target.get("channel") == parts[1] and (
                    len(parts) == 2 or target.get("thread_ts") == parts[2]):
                return True
    return False


def _conversation(record: ConversationRecord, turns: list[TurnRecord]) -> dict[str, Any]:
    return {"id": record.id, "channel": record.channel, "status": record.status,
            "started_at": _iso(record.started_at), "last_activity_at": _iso(record.last_activity_at),
            "closed_at": _iso(record.closed_at), "turns": [_turn(turn) for turn in turns]}


def _turn(turn: TurnRecord) -> dict[str, Any]:
    return {"id": turn.id, "role": turn.role, "kind": turn.kind, "text": turn.text,
            "search_query": turn.search_query, "sources": turn.sources or [], "metadata": turn.metadata_ or {},
            "rejected_reply": turn.rejected_reply, "feedback": turn.feedback, "created_at": _iso(turn.created_at)}


def _iso(moment: datetime | None) -> str | None:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat() if moment else None
