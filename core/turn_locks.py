"""One customer's turn at a time, across every server process on the database.

The dialogue manager answers a customer's messages one after another: each is recorded, answered and its
reply recorded before the next one is looked at. Within a process an asyncio lock keeps that order; these
locks keep it between processes (`helpdesk serve --workers N`, several hosts on one PostgreSQL), so that
two processes never answer one customer at once and a resend of a message that another process is still
answering waits for that answer instead of producing a second one.

- PostgreSQL: a session advisory lock (`pg_advisory_lock`) on a connection of a small pool of its own,
  held for the turn. Taking it from the pool the turn itself queries could deadlock once every
  connection is held by a turn waiting for a second one. A process that dies loses its connections, and
  the server releases their locks at once.
- SQLite (all processes on one host, one file): an exclusive `fcntl` byte-range lock, one byte per
  customer (a 62-bit hash as the offset), in a `.turn-locks` file next to the database. The kernel
  releases it when the process dies.
- In-memory SQLite and other databases: no lock beyond the process's own (one process only).

Keys are hashed; two customers sharing a hash would only wait for each other, never mix their turns.
"""

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import Engine, create_engine, text


class TurnLocks(Protocol):
    def hold(self, key: str):
        """A context manager that returns once no other process holds `key`, and holds it until exit."""


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class ThreadLocks:
    """Per key, one thread of this process at a time (also the first step of the cross-process locks:
    fcntl locks belong to a process, not a thread)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class FileTurnLocks:
    def __init__(self, path: str):
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # kept open: closing any fd drops the locks
        self._threads = ThreadLocks()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        offset = _hash(key) & (2**62 - 1)
        with self._threads.hold(key):
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, offset)
            try:
                yield
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)


class PostgresTurnLocks:
    def __init__(self, engine: Engine, connections: int):
        # AUTOCOMMIT: the lock belongs to the session, so no transaction stays open while a turn runs.
        self.engine = create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_size=connections,
                                    max_overflow=0, pool_timeout=600, pool_pre_ping=True)

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        number = _hash(key)
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": number})
            try:
                yield
            finally:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": number})
                except Exception:
                    connection.invalidate()  # closing the session releases the lock all the same
                    raise


def turn_locks_for(engine: Engine, connections: int = 16) -> TurnLocks:
    """The cross-process turn locks for `engine`'s database; `connections`: PostgreSQL lock pool size."""
    if engine.dialect.name == "postgresql":
        return PostgresTurnLocks(engine, connections)
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database and database != ":memory:" and not database.startswith("file::memory:"):
        return FileTurnLocks(f"{database}.turn-locks")
    return ThreadLocks()
