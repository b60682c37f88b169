"""SQLite writers take turns through a lock that wakes the next one when the holder commits (core/sqlite_writes.py)."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.database import make_engine
from core.sqlite_write_lock import write_lock_for

pytestmark = pytest.mark.integration

HOLD_SECONDS = 1.2
PROMPT_SECONDS = 0.06  # SQLite's busy handler sleeps 100 ms at a time after its first ~0.2 s of waiting


def _engine(path, write_lock: bool = True):
    engine = make_engine(f"sqlite:///{path}", sqlite_write_lock=write_lock)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)"))
    return engine


def _insert(engine, body: str, row_id: int | None = None) -> float:
    """Inserts a row; returns the wall-clock time its commit finished."""
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (id, body) VALUES (:id, :body)"), {"id": row_id, "body": body})
    return time.time()


def test_a_writer_in_another_process_starts_as_soon_as_the_holder_commits(tmp_path):
    path = tmp_path / "helpdesk.db"
    engine = _engine(path)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from sqlalchemy import text
        from core.database import make_engine
        engine = make_engine({f"sqlite:///{path}"!r})
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO notes (body) VALUES ('held')"))
            print("held", flush=True)
            time.sleep({HOLD_SECONDS})
        print(time.time(), flush=True)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    finished = _insert(engine, "waited")
    committed = float(holder.stdout.readline())
    holder.wait(timeout=30)
    assert time.monotonic() - started > HOLD_SECONDS / 2  # it did wait for the other process
    assert finished - committed < PROMPT_SECONDS  # and went on at once, not at its next busy-handler retry
    with engine.connect() as connection:
        assert connection.execute(text("SELECT body FROM notes ORDER BY id")).scalars().all() == ["held", "waited"]


def test_threads_of_one_process_take_turns_and_wake_at_once(tmp_path):
    engine = _engine(tmp_path / "helpdesk.db")
    held, release = threading.Event(), threading.Event()
    committed: list[float] = []

    def hold() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO notes (body) VALUES ('first')"))
            held.set()
            release.wait(10)
        committed.append(time.time())

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    threading.Timer(HOLD_SECONDS, release.set).start()
    finished = _insert(engine, "second")
    holder.join()
    assert finished - committed[0] < PROMPT_SECONDS


def test_reads_do_not_wait_for_a_writer(tmp_path):
    engine = _engine(tmp_path / "helpdesk.db")
    _insert(engine, "old")
    with engine.begin() as writer:
        writer.execute(text("INSERT INTO notes (body) VALUES ('new, not committed')"))
        reader = threading.Thread(target=lambda: results.append(_read_all(engine)))
        results: list[list[str]] = []
        started = time.monotonic()
        reader.start()
        reader.join(5)
        assert results == [["old"]] and time.monotonic() - started < 1


def _read_all(engine) -> list[str]:
    with engine.connect() as connection:
        return connection.execute(text("SELECT body FROM notes ORDER BY id")).scalars().all()


def test_a_failed_write_gives_the_turn_back(tmp_path):
    engine = _engine(tmp_path / "helpdesk.db")
    _insert(engine, "one", row_id=1)
    with pytest.raises(IntegrityError):
        _insert(engine, "duplicate id", row_id=1)
    other = threading.Thread(target=_insert, args=(engine, "two"))
    other.start()
    other.join(5)  # would hang for good if the rollback had kept the lock
    assert not other.is_alive()
    assert _read_all(engine) == ["one", "two"]


def test_a_second_connection_of_the_same_thread_does_not_wait_for_its_own_lock(tmp_path):
    path = tmp_path / "helpdesk.db"
    _engine(path)
    lock = write_lock_for(str(path), True)
    first, second = lock.open(), lock.open()
    assert lock.acquire(first) is True
    try:
        assert lock.acquire(second) is False  # SQLite's own lock answers that one, as without this lock
    finally:
        lock.release(first)
        os.close(first)
        os.close(second)
    assert write_lock_for(str(tmp_path / "." / "helpdesk.db"), True) is lock  # one per file and process


def test_with_the_lock_off_writers_meet_only_sqlites_own_locking(tmp_path):
    path = tmp_path / "helpdesk.db"
    engine = _engine(path, write_lock=False)
    lock = write_lock_for(str(path), False)
    assert lock.acquire(lock.open()) is False
    _insert(engine, "written")
    assert lock.waits.count == 1  # still measured (the log's figures), so both settings compare in a benchmark
    assert _read_all(engine) == ["written"]
