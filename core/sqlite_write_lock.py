"""One SQLite writer at a time across threads and processes: a kernel lock that wakes the next at once.

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
"""

import fcntl
import os
import struct
import threading
from functools import cache

from core.sqlite_write_waits import WriteWaits

# struct flock: l_type, l_whence, l_start, l_len (0: the whole file), l_pid (0 for OFD locks), padding
_FLOCK = "hhqqi4x"


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
