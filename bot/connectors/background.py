"""Work that outlives the request that started it: webhooks acknowledge first and answer afterwards."""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWork:
    """The set of tasks the app still owes an answer; drained on shutdown so replies are not cut off."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)  # asyncio keeps only weak references to tasks; this one keeps them alive
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for running work, cancel what is left; returns how many were cut."""
        if not self._tasks:
            return 0
        _, unfinished = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.warning("Shutdown cut off %d channel replies in progress; another process, or this one's next "
                        "start, takes them over (raise HELPDESK_CHANNEL_DRAIN_SECONDS to wait longer)",
                        len(unfinished))
        return len(unfinished)
