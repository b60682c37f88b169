"""Keeps this process's heartbeat and takes over the work of processes that died.

Every `heartbeat_seconds` the process refreshes its row in the process table (`core/processes.py`)
and sweeps for orphaned work (its owner's heartbeat is stale, or its owner shut down and left it):
- channel events accepted but never answered are answered (a message already recorded is not recorded
  again, and a reply already stored is delivered rather than generated twice);
- deliveries left pending are sent;
- knowledge jobs left queued or running are ended with an error saying what was not done.
A customer may, rarely, get a reply twice (the process died between the platform's OK and the record
of it); they never get none.
"""

import asyncio
import logging
from datetime import timedelta

from bot.connectors.channels import Channels
from core.database import utcnow
from core.processes import ProcessTable
from retrieval.jobs import JobRunner

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, processes: ProcessTable, channels: Channels, jobs: JobRunner, heartbeat_seconds: float,
                 max_age: timedelta, recover: bool = True):
        self.processes = processes
        self.channels = channels
        self.jobs = jobs
        self.heartbeat_seconds = heartbeat_seconds
        self.max_age = max_age
        self.recover = recover
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.processes.register)
        self._task = asyncio.create_task(self._run(), name="supervisor")

    async def stop(self) -> None:
        """Stop beating and sweeping; call `retire` once this process's own work is drained."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def retire(self) -> None:
        await asyncio.to_thread(self.processes.retire)

    async def sweep(self) -> None:
        """Take over orphaned work once (also run every heartbeat)."""
        if self.recover:
            await self.channels.recover(self.processes.orphaned, utcnow() - self.max_age)
            await asyncio.to_thread(self.jobs.fail_abandoned, self.processes.orphaned)

    async def _run(self) -> None:
        while True:
            # Each step on its own: a failing sweep must not stop the heartbeat (the process would be taken
            # for dead and its work taken over while it still runs it), nor a failing beat the sweeps.
            for name, step in (("Heartbeat", self._beat), ("Recovery sweep", self.sweep)):
                try:
                    await step()
                except Exception:
                    log.exception("%s failed; trying again in %.0f s", name, self.heartbeat_seconds)
            await asyncio.sleep(self.heartbeat_seconds)

    async def _beat(self) -> None:
        await asyncio.to_thread(self.processes.beat)
        await asyncio.to_thread(self.processes.forget_dead)
