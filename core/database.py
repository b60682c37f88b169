"""The SQL database every layer stores in: the declarative base of all tables, engines and sessions.

The tables themselves live with their feature (`dialogue/records.py`, `retrieval/faqs.py`, ...); the
schema changes through the Alembic migrations in `bot/migrations/`.
"""

from datetime import UTC, datetime
from functools import partial
from typing import Literal

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from core.sqlite_write_lock import write_lock_for
from core.sqlite_writes import BUSY_SECONDS, connection_class


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone-aware columns; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


SqliteSynchronous = Literal["normal", "full"]


def make_engine(url: str, sqlite_synchronous: SqliteSynchronous = "full",
                sqlite_write_lock: bool = True) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so readers never block the writer.

    SQLite's `synchronous`: with WAL, "normal" survives any crash of the application or of a server
    process (kill -9 included) and skips the fsync of every commit, ~6 ms on this machine's disk, which
    capped all writers together at ~80 turns/s; only a power loss or an OS crash may undo the last
    commits, which breaks the promise that nothing a customer sent is lost, so "full" (sync every commit)
    is the default and "normal" an operator's choice (docs/deploy.md).

    `sqlite_write_lock`: writers on a database file wait for each other in a lock that wakes them at once
    (core/sqlite_write_lock.py) rather than in SQLite's sleeping retries; off, only SQLite's own locking.
    """
    if url.startswith("sqlite"):
        connect_args = {"timeout": BUSY_SECONDS, "check_same_thread": False}
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            connect_args["factory"] = connection_class(write_lock_for(database, sqlite_write_lock))
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", partial(_sqlite_pragmas, synchronous=sqlite_synchronous))
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record, synchronous: SqliteSynchronous) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000:.0f}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
