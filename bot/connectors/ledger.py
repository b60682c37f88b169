"""Channel bookkeeping in the database: which events were accepted, what was delivered.

Every call runs on the ledger's own small thread pool, not the default executor: the dialogue manager
fills that one with LM generations, and a webhook acknowledgement must never queue behind them.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from dialogue.records import ChannelIdentityRecord, TurnRecord
from retrieval.storage import utcnow

T = TypeVar("T")


class Ledger:
    def __init__(self, sessions: sessionmaker, workers: int = 2):
        self.sessions = sessions
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None

    async def _run(self, work: Callable[[], T]) -> T:
        if self._pool is None:  # made on first use, so an app can be started again after `close`
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="channel-ledger")
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def claim(self, channel: str, keys: list[str]) -> bool:
        """Record the event under all its keys; False when any key was seen before (a redelivery)."""
        return await self._run(lambda: self._claim(channel, keys))

    def _claim(self, channel: str, keys: list[str]) -> bool:
        with self.sessions() as session:
            session.add_all(ChannelEventRecord(channel=channel, event_key=key) for key in keys)
            try:
                session.commit()
            except IntegrityError:
                # The unique key, not a prior SELECT, decides: two racing deliveries cannot both win.
                session.rollback()
                return False
        return True

    async def mark_processed(self, channel: str, key: str) -> None:
        await self._run(lambda: self._mark_processed(channel, key))

    def _mark_processed(self, channel: str, key: str) -> None:
        with self.sessions() as session:
            session.execute(update(ChannelEventRecord)
                            .where(ChannelEventRecord.channel == channel, ChannelEventRecord.event_key == key)
                            .values(processed_at=utcnow()))
            session.commit()

    async def knows_sender(self, channel: str, sender_id: str) -> bool:
        """Whether the bot already talks with `sender_id` on `channel` (a Slack thread it answered in)."""
        def query() -> bool:
            with self.sessions() as session:
                return session.scalar(select(ChannelIdentityRecord.id).where(
                    ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == sender_id
                )) is not None
        return await self._run(query)

    async def add_deliveries(self, records: list[DeliveryRecord]) -> list[int]:
        def add() -> list[int]:
            with self.sessions() as session:
                session.add_all(records)
                session.commit()
                return [record.id for record in records]
        return await self._run(add)

    async def update_delivery(self, delivery_id: int, **values) -> None:
        def write() -> None:
            with self.sessions() as session:
                session.execute(update(DeliveryRecord).where(DeliveryRecord.id == delivery_id)
                                .values(updated_at=utcnow(), **values))
                session.commit()
        await self._run(write)

    async def last_target(self, channel: str, conversation_id: int) -> dict | None:
        """Where the latest reply of `conversation_id` went on `channel` (a Slack thread, a Telegram chat)."""
        def query() -> dict | None:
            with self.sessions() as session:
                return session.scalar(
                    select(DeliveryRecord.target).join(TurnRecord, TurnRecord.id == DeliveryRecord.turn_id)
                    .where(DeliveryRecord.channel == channel, TurnRecord.conversation_id == conversation_id)
                    .order_by(DeliveryRecord.id.desc()).limit(1))
        return await self._run(query)
