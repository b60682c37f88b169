"""Server processes that own background work, and how to tell that one has died.

Work that outlives a request (a channel answer, a delivery, a knowledge job) records the id of the process
doing it. Each process registers here and refreshes its heartbeat while it runs; it deletes its row on a
clean shutdown. Work whose owner has no row, or a heartbeat older than the stale limit, is orphaned: its
process crashed or was killed, and another process (or the next start) may take it over.
"""

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, delete, exists, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from core.database import Base, utcnow

# What `ProcessTable.orphaned` is to its callers: given an owner column, the SQL condition "its process is dead".
Orphaned = Callable[[ColumnElement], ColumnElement[bool]]

_PROCESS = uuid.uuid4().hex[:12]  # tells this process from an earlier one that had the same pid


class ProcessRecord(Base):
    # The table kept its first name, `workers`, so that the schema needs no migration.
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProcessTable:
    """This process's entry in the process table (`workers`), and the test for work whose owner is gone."""

    def __init__(self, sessions: sessionmaker, stale_after: timedelta):
        self.sessions = sessions
        self.stale_after = stale_after
        # host:pid:process:instance. Tests build several in one process; they share the process part.
        self.id = f"{socket.gethostname()[:180]}:{os.getpid()}:{_PROCESS}:{uuid.uuid4().hex[:8]}"

    def register(self) -> None:
        """Add this process; forget earlier processes of this host that are gone (a restart after a crash
        need not wait for their heartbeat to go stale)."""
        host = socket.gethostname()[:255]
        with self.sessions() as session:
            neighbours = session.execute(select(ProcessRecord.id, ProcessRecord.pid)
                                         .where(ProcessRecord.host == host, ProcessRecord.id != self.id)).all()
            gone = [process_id for process_id, pid in neighbours if not _running(pid) or _earlier_life(process_id, pid)]
            if gone:
                session.execute(delete(ProcessRecord).where(ProcessRecord.id.in_(gone)))
            session.merge(ProcessRecord(id=self.id, host=host, pid=os.getpid(), started_at=utcnow(),
                                       heartbeat_at=utcnow()))
            session.commit()

    def beat(self) -> None:
        """Refresh the heartbeat (re-registering if an operator or a sweep removed the row)."""
        with self.sessions() as session:
            updated = session.execute(update(ProcessRecord).where(ProcessRecord.id == self.id)
                                      .values(heartbeat_at=utcnow())).rowcount
            session.commit()
        if not updated:
            self.register()

    def retire(self) -> None:
        """Clean shutdown: whatever this process leaves unfinished is at once free for the others."""
        with self.sessions() as session:
            session.execute(delete(ProcessRecord).where(ProcessRecord.id == self.id))
            session.commit()

    def orphaned(self, owner: ColumnElement) -> ColumnElement[bool]:
        """SQL condition on an owner column: no owner, or an owner with no fresh heartbeat."""
        alive = exists(select(ProcessRecord.id).where(ProcessRecord.id == owner,
                                                     ProcessRecord.heartbeat_at > utcnow() - self.stale_after))
        return or_(owner.is_(None), ~alive)

    def forget_dead(self) -> int:
        """Delete the rows of processes whose heartbeat stopped long ago (kept a while for operators)."""
        with self.sessions() as session:
            removed = session.execute(delete(ProcessRecord).where(
                ProcessRecord.heartbeat_at < utcnow() - 10 * self.stale_after)).rowcount
            session.commit()
        return removed


def _earlier_life(process_id: str, pid: int) -> bool:
    """Our pid, but not our process: a restarted container often gets the same pid as the one that died."""
    return pid == os.getpid() and process_id.split(":")[2:3] != [_PROCESS]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
