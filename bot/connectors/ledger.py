"""Channel bookkeeping in the database: which events were accepted, what was delivered.

Every call runs on the ledger's own small thread pool, not the default executor: the dialogue manager
fills that one with LM generations, and a webhook acknowledgement must never queue behind them.
"""

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from core.database import utcnow
from core.processes import Orphaned
from dialogue.records import ChannelIdentityRecord, TurnRecord

T = TypeVar("T")

TAKE_AT_ONCE = 100  # per sweep; the next sweep takes the rest


@dataclass(frozen=True)
class PendingParts:
    """Deliveries of one message that a dead process left pending, in part order."""

    channel: str
    target: dict
    turn_id: int | None
    ids: list[int]
    texts: list[str]


class Ledger:
    def __init__(self, sessions: sessionmaker, owner: str, threads: int = 2):
        self.sessions = sessions
        self.owner = owner  # this process's id in the process table, written on what it takes on
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    async def _run(self, work: Callable[[], T]) -> T:
        if self._pool is None:  # made on first use, so an app can be started again after `close`
            self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="channel-ledger")
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def claim(self, channel: str, keys: list[str], payload: dict) -> bool:
        """Record the event under all its keys; False when any key was seen before (a redelivery).

        The first key's row keeps `payload` (the parsed event) and this process as its owner.
        """
        return await self._run(lambda: self._claim(channel, keys, payload))

    def _claim(self, channel: str, keys: list[str], payload: dict) -> bool:
        with self.sessions() as session:
            session.add_all(
                ChannelEventRecord(channel=channel, event_key=key, **({"payload": payload, "owner": self.owner}
                                                                      if index == 0 else {}))
                for index, key in enumerate(keys))
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
            # The payload was only kept for a replay; the customer's words live on in their turn.
            session.execute(update(ChannelEventRecord)
                            .where(ChannelEventRecord.channel == channel, ChannelEventRecord.event_key == key)
                            .values(processed_at=utcnow(), payload=null()))  # SQL NULL, not JSON null
            session.commit()

    async def knows_sender(self, channel: str, sender_id: str) -> bool:
        """Whether the bot already talks with `sender_id` on `channel` (a Slack thread it answered in)."""
        def query() -> bool:
            with self.sessions() as session:
                return session.scalar(select(ChannelIdentityRecord.id).where(
                    ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == sender_id
                )) is not None
        return await self._run(query)

    async def has_deliveries(self, turn_id: int) -> bool:
        """Whether the reply `turn_id` was already queued for a platform (by this or an earlier process)."""
        def query() -> bool:
            with self.sessions() as session:
                return session.scalar(select(DeliveryRecord.id).where(DeliveryRecord.turn_id == turn_id)
                                      .limit(1)) is not None
        return await self._run(query)

    async def add_deliveries(self, records: list[DeliveryRecord]) -> list[int]:
        def add() -> list[int]:
            for record in records:
                record.owner = self.owner
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

    async def take_orphaned_events(self, orphaned: Orphaned, channels: list[str], since: datetime) -> list[dict]:
        """Payloads of unprocessed events whose process died, now owned by this one (each by one taker)."""
        def take() -> list[dict]:
            with self.sessions() as session:
                rows = session.execute(
                    select(ChannelEventRecord.id, ChannelEventRecord.owner, ChannelEventRecord.payload)
                    .where(ChannelEventRecord.processed_at.is_(None), ChannelEventRecord.payload.is_not(None),
                           ChannelEventRecord.channel.in_(channels), ChannelEventRecord.received_at >= since,
                           orphaned(ChannelEventRecord.owner))
                    .order_by(ChannelEventRecord.id).limit(TAKE_AT_ONCE)).all()
                return [payload for row_id, owner, payload in rows
                        if self._take(session, ChannelEventRecord, row_id, owner)]
        return await self._run(take)

    async def take_orphaned_deliveries(self, orphaned: Orphaned, channels: list[str],
                                       since: datetime) -> list[PendingParts]:
        """Pending deliveries whose process died, now owned by this one, grouped by message."""
        def take() -> list[PendingParts]:
            with self.sessions() as session:
                records = session.scalars(
                    select(DeliveryRecord)
                    .where(DeliveryRecord.status == "pending", DeliveryRecord.channel.in_(channels),
                           DeliveryRecord.created_at >= since, orphaned(DeliveryRecord.owner))
                    .order_by(DeliveryRecord.id).limit(TAKE_AT_ONCE)).all()
                groups: dict[tuple, PendingParts] = {}
                for record in records:
                    if not self._take(session, DeliveryRecord, record.id, record.owner):
                        continue
                    key = (record.channel, json.dumps(record.target, sort_keys=True), record.turn_id, record.parts)
                    group = groups.setdefault(key, PendingParts(record.channel, record.target, record.turn_id,
                                                                [], []))
                    group.ids.append(record.id)
                    group.texts.append(record.text)
                return list(groups.values())
        return await self._run(take)

    def _take(self, session, model, row_id: int, owner: str | None) -> bool:
        """Compare-and-set the owner: of two processes sweeping at once, exactly one wins the row."""
        same_owner = model.owner.is_(None) if owner is None else model.owner == owner
        won = session.execute(update(model).where(model.id == row_id, same_owner)
                              .values(owner=self.owner)).rowcount == 1
        session.commit()
        return won
