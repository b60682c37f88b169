"""The pieces that let several processes serve one database: turn locks across processes, batched embeddings."""

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sqlalchemy import create_engine

from core.turn_locks import FileTurnLocks, PostgresTurnLocks, ThreadLocks, turn_locks_for
from retrieval.batching import BatchingEmbedder
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.integration

HOLD_SECONDS = 1.5


def _holder(script: str) -> subprocess.Popen:
    """A separate Python process that takes a lock, says so on stdout, holds it HOLD_SECONDS, releases it."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _waited(locks, key: str) -> float:
    started = time.monotonic()
    with locks.hold(key):
        return time.monotonic() - started


def test_sqlite_turn_locks_make_another_process_wait_for_the_same_customer_only(tmp_path):
    path = tmp_path / "helpdesk.db.turn-locks"
    holder = _holder(f"""
        import time
        from core.turn_locks import FileTurnLocks
        with FileTurnLocks({str(path)!r}).hold("rest\\x00ann"):
            print("held", flush=True)
            time.sleep({HOLD_SECONDS})
    """)
    locks = FileTurnLocks(str(path))
    assert _waited(locks, "rest\x00bob") < 0.5  # another customer is not held up
    assert _waited(locks, "rest\x00ann") > HOLD_SECONDS / 2  # the same one waits for the other process
    holder.wait(timeout=30)


def test_postgres_turn_locks_make_another_process_wait_for_the_same_customer_only(postgres_server_url):
    url, drop = fresh_postgres_database(postgres_server_url)
    try:
        holder = _holder(f"""
            import time
            from sqlalchemy import create_engine
            from core.turn_locks import PostgresTurnLocks
            with PostgresTurnLocks(create_engine({url!r}), 2).hold("rest\\x00ann"):
                print("held", flush=True)
                time.sleep({HOLD_SECONDS})
        """)
        locks = turn_locks_for(create_engine(url))
        assert isinstance(locks, PostgresTurnLocks)
        assert _waited(locks, "rest\x00bob") < 0.5
        assert _waited(locks, "rest\x00ann") > HOLD_SECONDS / 2
        holder.wait(timeout=30)
        assert _waited(locks, "rest\x00ann") < 0.5  # released: not left behind on a pooled connection
        locks.engine.dispose()
    finally:
        drop()


def test_thread_locks_serialise_one_key_and_forget_it_afterwards():
    locks = ThreadLocks()
    inside, overlaps = [0], [0]

    def turn() -> None:
        with locks.hold("ann"):
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            time.sleep(0.01)
            inside[0] -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: turn(), range(16)))
    assert overlaps[0] == 1
    assert locks._locks == {}


def test_in_memory_sqlite_gets_locks_of_this_process_only():
    assert isinstance(turn_locks_for(create_engine("sqlite://")), ThreadLocks)


class _Counting:
    """The real embedder, counting the model calls it makes."""

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.model_id = inner, 0, inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts):
        self.calls += 1
        return self.inner.embed(texts)


def test_concurrent_queries_share_model_calls_and_get_their_own_vectors(embedder):
    counting = _Counting(embedder)
    batching = BatchingEmbedder(counting, window_seconds=0.05)
    queries = [f"How do I return order number {n}?" for n in range(24)]
    start = threading.Barrier(len(queries))

    def one(text: str) -> np.ndarray:
        start.wait()
        return batching.embed([text])[0]

    with ThreadPoolExecutor(len(queries)) as pool:
        vectors = list(pool.map(one, queries))
    batching.close()
    assert counting.calls < len(queries) / 2
    alone = embedder.embed(queries)
    for query_vector, expected in zip(vectors, alone):
        assert float(query_vector @ expected) > 0.9999  # its own text's vector, not a neighbour's


def test_every_encode_runs_on_one_thread_whichever_thread_asks(embedder, monkeypatch):
    """torch keeps a team of OpenMP threads per calling thread; more teams than cores made every query slower."""
    model, threads = embedder._model, set()
    encode = model.encode

    def recording(*args, **kwargs):
        threads.add(threading.get_ident())
        return encode(*args, **kwargs)

    monkeypatch.setattr(model, "encode", recording)
    batching = BatchingEmbedder(embedder, window_seconds=0.0)
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(lambda n: batching.embed([f"Where is parcel {n}?"])[0], range(8)))
        pool.submit(embedder.embed, [f"Import text {n}" for n in range(80)]).result()  # a large call, not queued
    embedder.embed(["from the test's own thread"])
    batching.close()
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert float(vectors[3] @ embedder.embed(["Where is parcel 3?"])[0]) > 0.9999


def test_a_query_alone_does_not_wait_for_the_window_and_concurrent_ones_do():
    class Recording:
        model_id, dimension = "recording", 2

        def __init__(self) -> None:
            self.batches: list[int] = []
            self.gate = threading.Event()  # a model call lasts until the test opens the gate
            self.gate.set()

        def embed(self, texts):
            self.batches.append(len(texts))
            assert self.gate.wait(timeout=30)
            return np.ones((len(texts), 2), dtype=np.float32)

    recording = Recording()
    batching = BatchingEmbedder(recording, window_seconds=5.0)
    for _ in range(3):  # one customer at a time: no window
        started = time.monotonic()
        batching.embed(["alone"])
        assert time.monotonic() - started < 2.5
    assert recording.batches == [1, 1, 1]

    # A burst: the first query goes at once; seven more queue behind its model call and share the next one.
    recording.gate.clear()
    with ThreadPoolExecutor(8) as pool:
        burst = [pool.submit(batching.embed, ["q0"])]
        _wait_for(lambda: len(recording.batches) == 4)
        burst += [pool.submit(batching.embed, [f"q{n}"]) for n in range(1, 8)]
        _wait_for(lambda: batching._queue.qsize() == 7)
        recording.gate.set()
        for future in burst:
            future.result(timeout=30)
    assert recording.batches[3:] == [1, 7]
    # Queries came concurrently: the next one waits the window for company, and a second caller within it joins.
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(batching.embed, ["first"])
        time.sleep(0.2)
        second = pool.submit(batching.embed, ["second"])
        first.result(timeout=30), second.result(timeout=30)
    assert recording.batches[-1] == 2
    batching.close()


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_a_failing_model_call_fails_every_caller_of_that_batch():
    class Broken:
        model_id, dimension = "broken", 3

        def embed(self, texts):
            raise RuntimeError("model crashed")

    batching = BatchingEmbedder(Broken(), window_seconds=0.05)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batching.embed, ["q"]) for _ in range(4)]
        for future in futures:
            with pytest.raises(RuntimeError, match="model crashed"):
                future.result(timeout=10)
    batching.close()
