"""A FAISS inner-product index over FAQ questions, grouped back to FAQs, updated in place and persisted."""

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


@dataclass(frozen=True)
class IndexMatch:
    faq_id: int
    score: float
    matched_text: str


class FaqIndex:
    """Each FAQ contributes one vector per question and alternative question.

    Vector ids are allocated sequentially and mapped back to FAQ ids, so replacing an FAQ removes exactly
    its old vectors. The per-FAQ content hashes are stored beside the index, which lets start-up re-embed
    only what changed while the server was down.
    """

    def __init__(self, dimension: int, model_id: str):
        self.dimension = dimension
        self.model_id = model_id
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._faq_of_vector: dict[int, int] = {}
        self._text_of_vector: dict[int, str] = {}
        self._vectors_of_faq: dict[int, list[int]] = {}
        self.content_hashes: dict[int, str] = {}
        self._next_id = 0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self._index.ntotal

    @property
    def faq_ids(self) -> set[int]:
        return set(self._vectors_of_faq)

    def upsert(self, faq_id: int, texts: list[str], vectors: np.ndarray, content_hash: str) -> None:
        if vectors.shape != (len(texts), self.dimension):
            raise ValueError(f"expected {len(texts)} vectors of {self.dimension} dims, got {vectors.shape}")
        with self._lock:
            self.remove(faq_id)
            ids = np.arange(self._next_id, self._next_id + len(texts), dtype=np.int64)
            self._next_id += len(texts)
            self._index.add_with_ids(vectors, ids)
            for vector_id, text in zip(ids.tolist(), texts):
                self._faq_of_vector[vector_id] = faq_id
                self._text_of_vector[vector_id] = text
            self._vectors_of_faq[faq_id] = ids.tolist()
            self.content_hashes[faq_id] = content_hash

    def remove(self, faq_id: int) -> None:
        with self._lock:
            ids = self._vectors_of_faq.pop(faq_id, [])
            self.content_hashes.pop(faq_id, None)
            if not ids:
                return
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))
            for vector_id in ids:
                del self._faq_of_vector[vector_id]
                del self._text_of_vector[vector_id]

    def search(self, query: np.ndarray, top_k: int) -> list[IndexMatch]:
        """The best `top_k` FAQs for one query vector, each scored by its best-matching question."""
        with self._lock:
            if self._index.ntotal == 0:
                return []
            # Over-fetch vectors because several of them can belong to the same FAQ.
            k = min(self._index.ntotal, top_k * 8 + 16)
            scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), k)
            best: dict[int, IndexMatch] = {}
            for score, vector_id in zip(scores[0].tolist(), ids[0].tolist()):
                if vector_id < 0:
                    continue
                faq_id = self._faq_of_vector[vector_id]
                if faq_id not in best:
                    best[faq_id] = IndexMatch(faq_id, float(score), self._text_of_vector[vector_id])
                if len(best) == top_k:
                    break
        return sorted(best.values(), key=lambda match: match.score, reverse=True)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {
                "model_id": self.model_id,
                "dimension": self.dimension,
                "next_id": self._next_id,
                "faqs": {
                    str(faq_id): {
                        "hash": self.content_hashes[faq_id],
                        "vectors": vector_ids,
                        "texts": [self._text_of_vector[v] for v in vector_ids],
                    }
                    for faq_id, vector_ids in self._vectors_of_faq.items()
                },
            }
            _atomic_write(folder / "faq.faiss", faiss.serialize_index(self._index).tobytes())
            _atomic_write(folder / "faq.json", json.dumps(meta).encode())

    @classmethod
    def load(cls, folder: Path, dimension: int, model_id: str) -> "FaqIndex | None":
        """The stored index, or None when there is none or it was built with another model."""
        try:
            meta = json.loads((folder / "faq.json").read_text())
            raw = np.frombuffer((folder / "faq.faiss").read_bytes(), dtype=np.uint8)
        except (OSError, ValueError):
            return None
        if meta.get("model_id") != model_id or meta.get("dimension") != dimension:
            return None
        index = cls(dimension, model_id)
        index._index = faiss.deserialize_index(raw)
        index._next_id = meta["next_id"]
        for key, entry in meta["faqs"].items():
            faq_id = int(key)
            index._vectors_of_faq[faq_id] = entry["vectors"]
            index.content_hashes[faq_id] = entry["hash"]
            for vector_id, text in zip(entry["vectors"], entry["texts"]):
                index._faq_of_vector[vector_id] = faq_id
                index._text_of_vector[vector_id] = text
        if index._index.ntotal != len(index._faq_of_vector):
            return None
        return index


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
