"""Support figures over a period: volume, resolution, handoffs, fallbacks, thumbs and response times.

Every figure's numerator and denominator is defined in docs/analytics.md; this module is that definition
in code. A conversation belongs to the day (UTC) and channel it started on.
"""

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from core.database import as_utc, utcnow
from dialogue.messages import HandoffReason, ReplyKind, TurnRole, stored_payloads
from dialogue.records import ConversationRecord, ConversationStatus, TurnRecord
from dialogue.suggested import suggested_ids

# bot replies that searched the knowledge base
QUESTION_KINDS = frozenset({ReplyKind.FAQ, ReplyKind.GENERATED, ReplyKind.FALLBACK})


@dataclass
class ConversationFacts:
    """What one conversation contributes to the figures."""

    channel: str
    day: date
    ended: bool = False
    customer_messages: int = 0
    bot_replies: int = 0
    agent_replies: int = 0
    answers: int = 0  # bot replies of QUESTION_KINDS
    fallbacks: int = 0
    suggesting_fallbacks: int = 0  # fallbacks that offered FAQs as buttons (dialogue/suggested.py)
    suggestions_chosen: int = 0  # customer messages that pressed one
    thumbs_up: int = 0
    thumbs_down: int = 0
    handed_off: bool = False
    first_bot_reply_seconds: float | None = None
    first_agent_reply_seconds: float | None = None

    @property
    def resolved(self) -> bool:
        return self.ended and not self.handed_off and self.thumbs_down == 0


@dataclass(frozen=True)
class Figures:
    conversations: int
    messages: int
    bot_replies: int
    agent_replies: int
    ended_conversations: int
    resolved_conversations: int
    resolution_rate: float | None
    handed_off_conversations: int
    handoff_rate: float | None
    answers: int
    fallbacks: int
    fallback_rate: float | None
    suggesting_fallbacks: int
    suggestions_chosen: int
    suggestion_choice_rate: float | None
    thumbs_up: int
    thumbs_down: int
    csat: float | None
    median_first_bot_reply_seconds: float | None
    median_first_agent_reply_seconds: float | None


@dataclass(frozen=True)
class DayFigures(Figures):
    date: date = field(default=date.min)


@dataclass(frozen=True)
class ChannelFigures(Figures):
    channel: str = ""


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    channel: str | None
    totals: Figures
    days: list[DayFigures]
    channels: list[ChannelFigures]


def report(sessions: sessionmaker, start: date, end: date, channel: str | None,
           conversation_timeout: timedelta, now: datetime | None = None) -> Report:
    """Figures for conversations started from `start` to `end` (both included, UTC days)."""
    facts = collect_facts(sessions, start, end, channel, conversation_timeout, now or utcnow())
    by_day: dict[date, list[ConversationFacts]] = defaultdict(list)
    by_channel: dict[str, list[ConversationFacts]] = defaultdict(list)
    for fact in facts:
        by_day[fact.day].append(fact)
        by_channel[fact.channel].append(fact)
    days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    return Report(
        start, end, channel, figures(facts),
        days=[DayFigures(**figures(by_day.get(day, [])).__dict__, date=day) for day in days],
        channels=[ChannelFigures(**figures(rows).__dict__, channel=name) for name, rows in sorted(by_channel.items())],
    )


def figures(facts: Iterable[ConversationFacts]) -> Figures:
    facts = list(facts)
    ended = [fact for fact in facts if fact.ended]
    resolved = sum(fact.resolved for fact in ended)
    handed_off = sum(fact.handed_off for fact in facts)
    answers = sum(fact.answers for fact in facts)
    fallbacks = sum(fact.fallbacks for fact in facts)
    suggesting, chosen = sum(f.suggesting_fallbacks for f in facts), sum(f.suggestions_chosen for f in facts)
    up, down = sum(fact.thumbs_up for fact in facts), sum(fact.thumbs_down for fact in facts)
    return Figures(
        conversations=len(facts),
        messages=sum(fact.customer_messages for fact in facts),
        bot_replies=sum(fact.bot_replies for fact in facts),
        agent_replies=sum(fact.agent_replies for fact in facts),
        ended_conversations=len(ended), resolved_conversations=resolved, resolution_rate=_rate(resolved, len(ended)),
        handed_off_conversations=handed_off, handoff_rate=_rate(handed_off, len(facts)),
        answers=answers, fallbacks=fallbacks, fallback_rate=_rate(fallbacks, answers),
        suggesting_fallbacks=suggesting, suggestions_chosen=chosen, suggestion_choice_rate=_rate(chosen, suggesting),
        thumbs_up=up, thumbs_down=down, csat=_rate(up, up + down),
        median_first_bot_reply_seconds=_median(fact.first_bot_reply_seconds for fact in facts),
        median_first_agent_reply_seconds=_median(fact.first_agent_reply_seconds for fact in facts),
    )


def collect_facts(sessions: sessionmaker, start: date, end: date, channel: str | None,
                  conversation_timeout: timedelta, now: datetime) -> list[ConversationFacts]:
    since = datetime.combine(start, time.min, UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, UTC)
    conversations = select(ConversationRecord.id, ConversationRecord.channel, ConversationRecord.started_at,
                           ConversationRecord.status, ConversationRecord.last_activity_at).where(
        ConversationRecord.started_at >= since, ConversationRecord.started_at < until)
    if channel:
        conversations = conversations.where(ConversationRecord.channel == channel)
    with sessions() as session:
        facts: dict[int, ConversationFacts] = {}
        for row in session.execute(conversations):
            idle = as_utc(row.last_activity_at) + conversation_timeout < now
            facts[row.id] = ConversationFacts(row.channel, as_utc(row.started_at).date(),
                                              ended=row.status == ConversationStatus.CLOSED or idle)
        ids = select(conversations.subquery().c.id)
        turns = session.execute(
            select(TurnRecord.conversation_id, TurnRecord.role, TurnRecord.kind, TurnRecord.handoff_reason,
                   TurnRecord.feedback, TurnRecord.created_at, TurnRecord.metadata_)
            .where(TurnRecord.conversation_id.in_(ids)).order_by(TurnRecord.conversation_id, TurnRecord.id))
        _Timeline.apply(facts, turns)
    return list(facts.values())


class _Timeline:
    """Walks one conversation's turns in order and fills in its facts."""

    def __init__(self, fact: ConversationFacts):
        self.fact = fact
        self.first_message: datetime | None = None
        self.handoff_at: datetime | None = None

    @classmethod
    def apply(cls, facts: dict[int, ConversationFacts], turns) -> None:
        current: tuple[int, _Timeline] | None = None
        for turn in turns:
            if current is None or current[0] != turn.conversation_id:
                current = (turn.conversation_id, cls(facts[turn.conversation_id]))
            current[1].add(turn.role, turn.kind, turn.handoff_reason, turn.feedback, as_utc(turn.created_at),
                           turn.metadata_ or {})

    def add(self, role: str, kind: str, handoff: str | None, feedback: int | None, at: datetime,
            metadata: dict) -> None:
        fact = self.fact
        if role == TurnRole.USER:
            fact.customer_messages += 1
            fact.suggestions_chosen += "suggestion_chosen" in metadata
            self.first_message = self.first_message or at
        elif role == TurnRole.BOT:
            fact.bot_replies += 1
            fact.answers += kind in QUESTION_KINDS
            fact.fallbacks += kind == ReplyKind.FALLBACK
            fact.suggesting_fallbacks += kind == ReplyKind.FALLBACK and bool(suggested_ids(stored_payloads(metadata)))
            fact.thumbs_up += feedback == 1
            fact.thumbs_down += feedback == -1
            if fact.first_bot_reply_seconds is None and self.first_message is not None:
                fact.first_bot_reply_seconds = (at - self.first_message).total_seconds()
            if handoff == HandoffReason.ASKED:
                fact.handed_off = True
                self.handoff_at = self.handoff_at or at
        elif role == TurnRole.AGENT:
            fact.agent_replies += 1
            if fact.first_agent_reply_seconds is None and self.handoff_at is not None:
                fact.first_agent_reply_seconds = (at - self.handoff_at).total_seconds()


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 3) if present else None
