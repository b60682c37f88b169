"""What bench/soak.py reads back from the database: per customer, what was lost, doubled, unanswered or reordered."""

from dataclasses import dataclass

from sqlalchemy import select

from core.database import make_engine
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord


@dataclass
class Audit:
    lost: int = 0  # a message sent (at least once) with no user turn
    duplicated: int = 0  # a user turn whose message id or text was stored before for that customer
    unanswered: int = 0  # a user turn not followed by a bot turn before the customer's next one
    out_of_order: int = 0  # a user turn stored after one the customer sent later
    strays: int = 0  # a user turn that matches nothing the customer sent
    user_turns: int = 0
    bot_turns: int = 0


def audit_database(url: str, sent: dict[str, list[tuple[str, str]]]) -> Audit:
    """Counts over every REST customer in `sent` (sender -> [(message id, text)] in send order)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(ChannelIdentityRecord.external_id, TurnRecord.role, TurnRecord.text, TurnRecord.metadata_)
                .join(ConversationRecord, ConversationRecord.customer_id == ChannelIdentityRecord.customer_id)
                .join(TurnRecord, TurnRecord.conversation_id == ConversationRecord.id)
                .where(ChannelIdentityRecord.channel == "rest",
                       ChannelIdentityRecord.external_id.in_(list(sent)))
                .order_by(ChannelIdentityRecord.external_id, TurnRecord.id)).all()
    finally:
        engine.dispose()
    turns: dict[str, list[tuple[str, str, dict]]] = {sender: [] for sender in sent}
    for sender, role, turn_text, metadata in rows:
        turns[sender].append((role, turn_text, metadata or {}))
    audit = Audit()
    for sender, messages in sent.items():
        _audit_customer(audit, messages, turns[sender])
    return audit


def _audit_customer(audit: Audit, messages: list[tuple[str, str]], turns: list[tuple[str, str, dict]]) -> None:
    position = {message_id: index for index, (message_id, _) in enumerate(messages)}
    by_text = {message_text: message_id for message_id, message_text in messages}
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    last_index = -1
    for number, (role, turn_text, metadata) in enumerate(turns):
        if role != "user":
            audit.bot_turns += role == "bot"
            continue
        audit.user_turns += 1
        if number + 1 == len(turns) or turns[number + 1][0] == "user":
            audit.unanswered += 1
        message_id = metadata.get("message_id") or by_text.get(turn_text)
        if message_id not in position:
            audit.strays += 1
            continue
        if message_id in seen_ids or turn_text in seen_texts:
            audit.duplicated += 1
            continue
        seen_ids.add(message_id)
        seen_texts.add(turn_text)
        audit.out_of_order += position[message_id] < last_index
        last_index = max(last_index, position[message_id])
    audit.lost += sum(message_id not in seen_ids for message_id, _ in messages)

