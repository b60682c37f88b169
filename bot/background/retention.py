"""HELPDESK_RETENTION_DAYS: conversations idle longer than that are deleted or anonymised.

`purge` (bot/background/purge.py) does one pass; `RetentionJob` runs it every `retention_check_seconds` in
the one process that the process table elects (the oldest one with a fresh heartbeat, `core/processes.py`),
so several server processes never purge at once. The clock is a parameter: tests move it instead of waiting.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.background.purge import Purged, purge
from core.database import utcnow
from core.processes import ProcessRecord, ProcessTable

log = logging.getLogger(__name__)


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
