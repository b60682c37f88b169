"""SQLite connections whose write transactions hold the write lock (core/sqlite_write_lock.py).

The lock is taken at the first statement that makes Python's `sqlite3` open a write transaction (INSERT,
UPDATE, DELETE, REPLACE) and released right after that transaction's commit or rollback, so reads never
wait. SQLite's own locking stays in place underneath: anything that does not go through this lock (the
`sqlite3` shell, an older server) is still serialised by SQLite and its busy handler.
"""

import os
import re
import sqlite3
import time

from core.sqlite_write_lock import WriteLock

_OPENS_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
BUSY_SECONDS = 30.0  # SQLite's busy timeout (core/database.py), for what does not go through this lock


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
