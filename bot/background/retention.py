"""HELPDESK_RETENTION_DAYS: conversations idle longer than that are deleted or anonymised.

`purge` does one pass; `RetentionJob` runs it every `retention_check_seconds` in the one process that
the process table elects (the oldest one with a fresh heartbeat, `core/processes.py`), so several
server processes never purge at once. The clock is a parameter: tests move it instead of waiting.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from bot.support.customers import event_keys
from core.database import utcnow
from core.processes import ProcessRecord, ProcessTable
from dialogue.actions.records import ActionRunRecord, FormStateRecord
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord, UserRecord

log = logging.getLogger(__name__)

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
    gone = list(session.scalars(select(UserRecord.id).where(UserRecord.updated_at < cutoff, ~_has_conversations())))
    session.execute(delete(ChannelIdentityRecord).where(ChannelIdentityRecord.user_id.in_(gone)))
    session.execute(delete(UserRecord).where(UserRecord.id.in_(gone)))
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
    recent = exists(select(ConversationRecord.id).where(ConversationRecord.user_id == UserRecord.id,
                                                        ConversationRecord.last_activity_at >= cutoff))
    faded = list(session.scalars(select(UserRecord.id).where(UserRecord.updated_at < cutoff, ~recent)))
    session.execute(update(UserRecord).where(UserRecord.id.in_(faded))
                    .values(name=None, email=None, phone=None, attributes={}))
    session.execute(delete(ChannelIdentityRecord).where(ChannelIdentityRecord.user_id.in_(faded)))
    return len(faded)


def _has_conversations():
    return exists(select(ConversationRecord.id).where(ConversationRecord.user_id == UserRecord.id))


def _before(moment: datetime, cutoff: datetime) -> bool:
    # SQLite hands back naive datetimes (stored in UTC).
    return (moment if moment.tzinfo else moment.replace(tzinfo=cutoff.tzinfo)) < cutoff


def elected(processes: ProcessTable, now: datetime | None = None) -> bool:
    """Whether this process is the oldest one with a fresh heartbeat: the one that runs the purge."""
    now = now or utcnow()
    with processes.sessions() as session:
        oldest = session.scalar(select(ProcessRecord.id)
                                .where(ProcessRecord.heartbeat_at > now - processes.stale_after)
                                .order_by(ProcessRecord.started_at, ProcessRecord.id).limit(1))
    return oldest == processes.id


@asynccontextmanager
async def retention_running(settings, sessions: sessionmaker, processes: ProcessTable) -> AsyncIterator[None]:
    """The retention job of a server process, while it serves (a no-op when HELPDESK_RETENTION_DAYS is unset)."""
    job = RetentionJob(sessions, processes, settings.retention_days, settings.retention_mode,
                       settings.retention_check_seconds)
    await job.start()
    try:
        yield
    finally:
        await job.stop()


class RetentionJob:
    def __init__(self, sessions: sessionmaker, processes: ProcessTable, days: float | None, mode: str,
                 every_seconds: float, clock: Callable[[], datetime] = utcnow):
        self.sessions = sessions
        self.processes = processes
        self.days = days
        self.mode = mode
        self.every_seconds = every_seconds
        self.clock = clock
        self._task: asyncio.Task | None = None

    def run_once(self) -> Purged | None:
        """Purge now if retention is on and this process is elected; None otherwise."""
        if self.days is None or not elected(self.processes):  # heartbeats are on the real clock
            return None
        purged = purge(self.sessions, self.clock() - timedelta(days=self.days), self.mode)
        if purged.conversations or purged.customers:
            log.info("Retention (%s days, %s): %d conversations, %d customers, %d channel events, %d deliveries",
                     f"{self.days:g}", self.mode, purged.conversations, purged.customers, purged.channel_events,
                     purged.deliveries)
        return purged

    async def start(self) -> None:
        if self.days is not None:
            self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("The retention job failed; trying again in %.0f s", self.every_seconds)
            await asyncio.sleep(self.every_seconds)
