"""Query embeddings of concurrent requests, computed together.

One short query costs MiniLM ~7 ms on this CPU, a batch of 16 little more than twice that: the model's
fixed cost per call dominates. `BatchingEmbedder` wraps any `Embedder`: the texts of calls that arrive while
the model is busy, or within `window_seconds` of the first one, are embedded in one call, and each caller
gets its own rows back. The window is waited only while queries come concurrently (the last call embedded
more than one): a customer alone does not wait for company that is not coming. Large calls (an import, a
re-index) skip the queue; they are batches already.
`RecentVectors` keeps the last queries' vectors: one message searched twice (actions, then FAQs) is embedded once.
"""

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from retrieval.embedder import Embedder, is_multilingual, model_calibration


@dataclass
class _Request:
    texts: list[str]
    result: Future = field(default_factory=Future)


class BatchingEmbedder:
    def __init__(self, inner: Embedder, window_seconds: float = 0.003, max_batch: int = 64):
        if window_seconds < 0 or max_batch < 1:
            raise ValueError("window_seconds must be >= 0 and max_batch >= 1")
        self.inner = inner
        self.window_seconds = window_seconds
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._concurrent = False  # whether the last model call embedded more than one caller's texts
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def calibration(self):
        return model_calibration(self.inner)

    def multilingual(self) -> bool:
        return is_multilingual(self.inner)

    def warm_up(self) -> None:
        if hasattr(self.inner, "warm_up"):
            self.inner.warm_up()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) >= self.max_batch or not texts:
            return self.inner.embed(texts)
        request = _Request(list(texts))
        self._ensure_thread()
        self._queue.put(request)
        return request.result.result()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="embedding-batches", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, stop = self._collect(first)
            self._embed_batch(batch)
            if stop:
                return

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        """`first` and whatever else is waiting, or arrives within the window while queries come concurrently,
        up to `max_batch` texts."""
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + (self.window_seconds if self._concurrent else 0.0)
        while size < self.max_batch:
            try:
                waiting = deadline - time.monotonic()
                request = self._queue.get(timeout=waiting) if waiting > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if request is None:
                return batch, True
            batch.append(request)
            size += len(request.texts)
        self._concurrent = len(batch) > 1
        return batch, False

    def _embed_batch(self, batch: list[_Request]) -> None:
        try:
            vectors = self.inner.embed([text for request in batch for text in request.texts])
        except Exception as error:  # every waiting caller gets the error, none waits forever
            for request in batch:
                request.result.set_exception(error)
            return
        start = 0
        for request in batch:
            request.result.set_result(vectors[start : start + len(request.texts)])
            start += len(request.texts)


class RecentVectors:
    """The last few query vectors, read-only, shared by the answer threads."""

    def __init__(self, size: int = 256):
        self.size = size
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, query: str) -> np.ndarray | None:
        with self._lock:
            return self._vectors.get(query)

    def put(self, query: str, vector: np.ndarray) -> np.ndarray:
        vector.flags.writeable = False
        with self._lock:
            self._vectors[query] = vector
            while len(self._vectors) > self.size:
                del self._vectors[next(iter(self._vectors))]  # the oldest
        return vector
