"""Signals of knowledge gaps: customer questions whose reply was a fallback, a thumbs-down or a handoff."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import sessionmaker

from core.database import as_utc
from dialogue.questions import question_in
from dialogue.messages import HandoffReason, ReplyKind, TurnRole
from dialogue.records import ConversationRecord, TurnRecord

MAX_SIGNALS = 2000  # the newest ones; clustering is quadratic in their number


@dataclass
class Signal:
    turn_id: int  # the customer's turn that holds the question
    customer_id: int
    question: str
    search_text: str
    asked_at: datetime
    reasons: set[str] = field(default_factory=set)
    chosen: int | None = None  # the FAQ the customer then chose from the fallback's suggestions


def collect_signals(sessions: sessionmaker, since: datetime, until: datetime,
                    channel: str | None = None) -> list[Signal]:
    """The newest MAX_SIGNALS questions that got a fallback, a thumbs-down or a handoff in [since, until)."""
    bad = (select(TurnRecord.id, TurnRecord.conversation_id, TurnRecord.kind, TurnRecord.feedback,
                  ConversationRecord.customer_id)
           .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
           .where(TurnRecord.role == TurnRole.BOT, TurnRecord.created_at >= since, TurnRecord.created_at < until,
                  or_(TurnRecord.kind == ReplyKind.FALLBACK.value, TurnRecord.feedback == -1,
                      TurnRecord.handoff_reason == HandoffReason.ASKED.value))
           .order_by(TurnRecord.id.desc()).limit(MAX_SIGNALS))
    if channel:
        bad = bad.where(ConversationRecord.channel == channel)
    signals: dict[int, Signal] = {}
    with sessions() as session:
        replies = session.execute(bad).all()
        customer_turns = _customer_turns(session, {reply.conversation_id for reply in replies})
        for reply in replies:
            turns = customer_turns.get(reply.conversation_id, [])
            signal = _signal(reply, [turn for turn in turns if turn.id < reply.id])
            if signal is not None:
                kept = signals.setdefault(signal.turn_id, signal)
                kept.reasons |= signal.reasons
                kept.chosen = kept.chosen or _chosen(reply, turns)
    return list(signals.values())


def _customer_turns(session, conversation_ids: set[int]) -> dict[int, list]:
    turns: dict[int, list] = {}
    for start in range(0, len(conversation_ids), 500):  # keeps IN lists short on every database
        batch = sorted(conversation_ids)[start:start + 500]
        rows = session.execute(
            select(TurnRecord.id, TurnRecord.conversation_id, TurnRecord.text, TurnRecord.search_query,
                   TurnRecord.created_at, TurnRecord.metadata_)
            .where(TurnRecord.conversation_id.in_(batch), TurnRecord.role == TurnRole.USER).order_by(TurnRecord.id))
        for row in rows:
            turns.setdefault(row.conversation_id, []).append(row)
    return turns


def _chosen(reply, turns: list) -> int | None:
    """The FAQ the customer's next message chose from a fallback's suggestions (dialogue/suggested.py)."""
    if reply.kind != ReplyKind.FALLBACK:
        return None
    after = next((turn for turn in turns if turn.id > reply.id), None)
    chosen = (after.metadata_ or {}).get("suggestion_chosen") if after is not None else None
    return chosen if isinstance(chosen, int) else None


def _signal(reply, before: list) -> Signal | None:
    if not before:
        return None
    if reply.kind == ReplyKind.HANDOFF:
        asked = next((turn for turn in reversed(before[-2:]) if question_in(turn.text)), None)
        if asked is None:
            return None
        question = question_in(asked.text)
    else:
        asked, question = before[-1], before[-1].text
    search_text = asked.search_query if asked.search_query and question == asked.text else question
    reasons = ({reply.kind} & {"fallback", "handoff"}) | ({"thumbs_down"} if reply.feedback == -1 else set())
    return Signal(asked.id, reply.customer_id, question, search_text, as_utc(asked.created_at), reasons)
