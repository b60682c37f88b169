"""SQLite writers take turns through a lock that blocks and wakes, instead of SQLite's sleeping retries.

SQLite lets one connection write at a time. A connection that finds the write lock taken calls its busy
handler, which sleeps and retries with a growing back-off (1, 2, 5, 10, ... up to 100 ms per sleep) and
does not wake when the lock is released. With several answer threads and server processes writing two
short transactions per turn, the unlucky writers slept through many free windows: that was the 95th
percentile at 32 customers (docs/deploy.md). Here a writing connection first takes an exclusive open file
description lock (`F_OFD_SETLKW`) on a `.write-lock` file next to the database, through a descriptor of its
own: such locks exclude each other between descriptors, so between the threads of one process as between
processes, and the kernel wakes the next waiter the moment the holder commits or rolls back (and drops the
lock if the process dies). One system call per hand-over: a thread lock in front of a per-process `fcntl`
lock was measurably slower (each hand-over woke a thread twice; docs/deploy.md).

The lock is taken at the first statement that makes Python's `sqlite3` open a write transaction (INSERT,
UPDATE, DELETE, REPLACE) and released right after that transaction's commit or rollback, so reads never
wait. SQLite's own locking stays in place underneath: anything that does not go through this lock (the
`sqlite3` shell, an older server) is still serialised by SQLite and its busy handler.
"""

import fcntl
import logging
import os
import re
import sqlite3
import struct
import threading
import time
from dataclasses import dataclass, field
from functools import cache

log = logging.getLogger(__name__)

_OPENS_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_SUMMARY_EVERY = 1000  # write transactions
BUSY_SECONDS = 30.0  # SQLite's busy timeout (core/database.py), for what does not go through this lock
# struct flock: l_type, l_whence, l_start, l_len (0: the whole file), l_pid (0 for OFD locks), padding
_FLOCK = "hhqqi4x"


@dataclass
class WriteWaits:
    """How long the first write statement of each write transaction of this process took, waiting for the
    lock (or, with the lock off, in SQLite's busy handler) included; logged every _SUMMARY_EVERY of them."""

    database: str
    count: int = 0
    recent: list[float] = field(default_factory=list)  # seconds, since the last summary
    held: list[float] = field(default_factory=list)  # seconds from the first write to commit or rollback

    def add(self, seconds: float) -> None:
        self.recent.append(seconds)

    def ended(self, held_seconds: float) -> None:
        self.count += 1
        self.held.append(held_seconds)
        if len(self.held) >= _SUMMARY_EVERY:
            summary, self.recent, self.held = self.summary(), [], []
            log.info("SQLite %s: %s", self.database, summary)

    def summary(self) -> str:
        if not self.held:
            return "no writes"
        return (f"{self.count} write transactions, the last {len(self.held)}: first write statement "
                f"(waiting included) {_percentiles(self.recent)}; first write to commit {_percentiles(self.held)}")


def _percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds) or [float("nan")]

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return f"p50 {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms"


class WriteLock:
    """One writing connection at a time among all threads and processes on `database`."""

    def __init__(self, database: str, enabled: bool = True):
        self.enabled = enabled
        self.path = f"{database}.write-lock"
        self.waits = WriteWaits(database)
        self._owner: int | None = None  # the thread holding it

    def open(self) -> int:
        """A descriptor of the lock file for one connection (an OFD lock belongs to its descriptor)."""
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self, fd: int | None) -> bool:
        """Waits for the lock through `fd`; False (nothing taken) when off, or when this thread already holds
        it through another connection, which then meets SQLite's own lock rather than waiting for itself."""
        if not self.enabled or fd is None or self._owner == threading.get_ident():
            return False
        fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        self._owner = threading.get_ident()
        return True

    def release(self, fd: int) -> None:
        self._owner = None
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0))


def write_lock_for(database: str, enabled: bool) -> WriteLock:
    """One per database file and process, so that two engines on one file know which thread holds it."""
    return _write_lock(os.path.realpath(database), enabled)


@cache
def _write_lock(database: str, enabled: bool) -> WriteLock:
    return WriteLock(database, enabled)


def connection_class(lock: WriteLock) -> type[sqlite3.Connection]:
    """A `sqlite3.Connection` (for `sqlite3.connect(factory=...)`) whose write transactions hold `lock`."""
    return type("LockedConnection", (_LockedConnection,), {"lock": lock})


class _Cursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        return self._locked(super().execute, sql, parameters)

    def executemany(self, sql, parameters, /):
        return self._locked(super().executemany, sql, parameters)

    def _locked(self, run, sql, parameters):
        started = self.connection.before(sql)
        try:
            return run(sql, parameters)
        finally:
            self.connection.after(started)


class _LockedConnection(sqlite3.Connection):
    lock: WriteLock
    _lock_fd: int | None = None  # opened at the first write
    _holds = False  # this connection holds the lock
    _writing = False  # its write transaction has begun
    _began = 0.0  # when its first write statement finished

    def cursor(self, factory=_Cursor):
        return super().cursor(factory)

    def before(self, sql: str) -> float | None:
        """At a transaction's first write: takes the lock; returns when it started waiting."""
        # In autocommit mode (isolation_level None) no commit would end the turn: SQLite's own lock only.
        if self._writing or self.isolation_level is None or not _OPENS_WRITE.match(sql):
            return None
        started = time.perf_counter()
        if self._lock_fd is None and self.lock.enabled:
            self._lock_fd = self.lock.open()
        self._holds = self.lock.acquire(self._lock_fd)
        self._writing = True
        return started

    def after(self, started: float | None) -> None:
        if started is not None:
            self._began = time.perf_counter()
            self.lock.waits.add(self._began - started)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._done()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._done()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._done()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _done(self) -> None:
        if self._writing:
            self.lock.waits.ended(time.perf_counter() - self._began)
        self._writing = False
        if self._holds:
            self._holds = False
            self.lock.release(self._lock_fd)
