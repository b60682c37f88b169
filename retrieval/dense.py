"""The dense half of search: a FAISS inner-product index over entries (FAQs and document chunks).

Every searchable thing is an *entry* with an int64 id (see `retrieval.entries`): an FAQ contributes one
vector per question and alternative question, a document chunk one vector. FAISS only sees its own
sequential row numbers; this class maps rows to entries. A removed entry's rows are tombstoned (mapped to
-1) instead of removed, because HNSW cannot remove vectors and a flat index would shift 150 MB of memory
per removal at 100k rows; the index is rebuilt without tombstones once they pass a quarter of the rows.
Above `hnsw_threshold` live rows the flat (exact) index is rebuilt once as HNSW (approximate, fast).
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np

from retrieval.entries import entry_of_vector, vector_ids

_COMPACT_FRACTION = 0.25
_GROW = 4096
_BUILD_THREADS = os.cpu_count() or 1

# One query at a time is searched on one thread: FAISS's OpenMP team costs ~30 ms of barrier waits per
# search on a busy 2-core machine (measured: 10k flat, 0.46 ms with 1 thread, 32 ms with 2). Rebuilds,
# which add many vectors at once, get every core back for their duration.
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class DenseConfig:
    hnsw_threshold: int = 50_000  # live vectors above which the index becomes HNSW
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 96


@dataclass(frozen=True)
class DenseMatch:
    entry: int
    score: float  # cosine similarity of the entry's best-matching vector
    position: int  # which of the entry's texts matched (an FAQ's question is 0, its alternatives 1..)


class DenseIndex:
    def __init__(self, dimension: int, model_id: str, config: DenseConfig = DenseConfig()):
        self.dimension = dimension
        self.model_id = model_id
        self.config = config
        self._faiss = self._new_flat()
        self._vector_of_row = np.full(_GROW, -1, dtype=np.int64)  # -1: tombstone or unused
        # Per row, a fingerprint of the content hash its entry had when embedded: lets a restart see which
        # entries the database changed behind the index's back (a restore, a manual edit).
        self._fingerprint_of_row = np.zeros(_GROW, dtype=np.int64)
        self._rows_of_entry: dict[int, list[int]] = {}
        self._live = 0
        self._lock = threading.RLock()

    # -- size ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Live vectors."""
        return self._live

    @property
    def tombstones(self) -> int:
        return self._faiss.ntotal - self._live

    @property
    def entries(self) -> set[int]:
        return set(self._rows_of_entry)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self._faiss, faiss.IndexHNSW) else "flat"

    def __contains__(self, entry: int) -> bool:
        return entry in self._rows_of_entry

    def fingerprints(self) -> dict[int, int]:
        """Content fingerprint per entry (see `retrieval.entries.fingerprint`)."""
        with self._lock:
            return {entry: int(self._fingerprint_of_row[rows[0]]) for entry, rows in self._rows_of_entry.items()}

    # -- changes -------------------------------------------------------------------------------------

    def upsert(self, entry: int, vectors: np.ndarray, fingerprint: int = 0) -> None:
        self.upsert_many([entry], vectors, [len(vectors)], [fingerprint])

    def remove(self, entry: int) -> None:
        with self._lock:
            self._tombstone(entry)
            self._maybe_rebuild()

    def upsert_many(self, entries: list[int], vectors: np.ndarray, counts: list[int],
                    fingerprints: list[int] | None = None) -> None:
        """Bulk form of `upsert` with one FAISS add: `counts[i]` rows of `vectors` belong to `entries[i]`."""
        if len(set(entries)) != len(entries):
            raise ValueError("an entry may appear only once per upsert_many")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (sum(counts), self.dimension):
            raise ValueError(f"expected {sum(counts)} vectors of {self.dimension} dims, got shape {vectors.shape}")
        with self._lock:
            for entry in entries:
                self._tombstone(entry)
            first = self._faiss.ntotal
            self._reserve(first + len(vectors))
            row = first
            for i, (entry, count) in enumerate(zip(entries, counts)):
                self._vector_of_row[row : row + count] = vector_ids(entry, count)
                self._fingerprint_of_row[row : row + count] = fingerprints[i] if fingerprints else 0
                self._rows_of_entry[entry] = list(range(row, row + count))
                row += count
            _add(self._faiss, vectors)
            self._live += len(vectors)
            self._maybe_rebuild()

    def _tombstone(self, entry: int) -> None:
        rows = self._rows_of_entry.pop(entry, None)
        if rows:
            self._vector_of_row[rows] = -1
            self._live -= len(rows)

    def _reserve(self, size: int) -> None:
        if size > len(self._vector_of_row):
            grown = np.full(max(size, 2 * len(self._vector_of_row)), -1, dtype=np.int64)
            grown[: len(self._vector_of_row)] = self._vector_of_row
            self._vector_of_row = grown
            fingerprints = np.zeros(len(grown), dtype=np.int64)
            fingerprints[: len(self._fingerprint_of_row)] = self._fingerprint_of_row
            self._fingerprint_of_row = fingerprints

    def _maybe_rebuild(self) -> None:
        live = len(self)
        wants_hnsw = live > self.config.hnsw_threshold
        too_many_tombstones = self.tombstones > _COMPACT_FRACTION * max(self._faiss.ntotal, 1)
        if wants_hnsw != (self.kind == "hnsw") or (too_many_tombstones and self.tombstones > 64):
            self._rebuild(wants_hnsw)

    def _rebuild(self, hnsw: bool) -> None:
        """Copy the live rows into a fresh index (the only O(n) step; rare by construction)."""
        order = [(entry, rows) for entry, rows in self._rows_of_entry.items()]
        all_rows = np.asarray([row for _, rows in order for row in rows], dtype=np.int64)
        vectors = self._reconstruct(all_rows)
        fingerprints = self._fingerprint_of_row[all_rows]
        fresh = self._new_hnsw() if hnsw else self._new_flat()
        _add(fresh, vectors)
        self._faiss = fresh
        self._vector_of_row = np.full(max(len(all_rows), _GROW), -1, dtype=np.int64)
        self._fingerprint_of_row = np.zeros(len(self._vector_of_row), dtype=np.int64)
        self._fingerprint_of_row[: len(all_rows)] = fingerprints
        self._rows_of_entry = {}
        next_row = 0
        for entry, rows in order:
            self._rows_of_entry[entry] = list(range(next_row, next_row + len(rows)))
            self._vector_of_row[next_row : next_row + len(rows)] = vector_ids(entry, len(rows))
            next_row += len(rows)

    def _reconstruct(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        flat = self._faiss if isinstance(self._faiss, faiss.IndexFlat) else faiss.downcast_index(
            self._faiss.storage)
        stored = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * self.dimension).reshape(-1, self.dimension)
        return stored[rows].copy()

    def _new_flat(self) -> faiss.Index:
        return faiss.IndexFlatIP(self.dimension)

    def _new_hnsw(self) -> faiss.Index:
        index = faiss.IndexHNSWFlat(self.dimension, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.config.hnsw_ef_construction
        index.hnsw.efSearch = self.config.hnsw_ef_search
        return index

    # -- reads ---------------------------------------------------------------------------------------

    def search(self, query: np.ndarray, top_k: int, allowed: set[int] | None = None) -> list[DenseMatch]:
        """The best `top_k` entries for one query vector, each scored by its best-matching vector.

        `allowed` restricts the search to those entries (tag/source filters).
        """
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        with self._lock:
            if len(self) == 0:
                return []
            params = None
            if allowed is not None:
                rows = [row for entry in allowed for row in self._rows_of_entry.get(entry, ())]
                if not rows:
                    return []
                params = self._params(faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64)))
            elif self.kind == "hnsw":
                params = self._params(None)
            # Over-fetch: several rows can belong to one FAQ, and tombstoned rows are skipped.
            k = min(self._faiss.ntotal, top_k * 8 + 16 + self.tombstones)
            scores, rows = self._faiss.search(query, k, params=params)
            best: dict[int, DenseMatch] = {}
            for score, row in zip(scores[0].tolist(), rows[0].tolist()):
                vector_id = int(self._vector_of_row[row]) if row >= 0 else -1
                if vector_id < 0:
                    continue
                entry, position = entry_of_vector(vector_id)
                if entry not in best:
                    best[entry] = DenseMatch(entry, float(score), position)
                    if len(best) == top_k:
                        break
        return sorted(best.values(), key=lambda match: match.score, reverse=True)

    def _params(self, selector) -> faiss.SearchParameters:
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=self.config.hnsw_ef_search)
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params

    def best_scores(self, query: np.ndarray, entries: list[int]) -> dict[int, DenseMatch]:
        """Exact cosine of `query` against given entries: the dense score of a lexical-only hit."""
        query = query.reshape(-1).astype(np.float32)
        with self._lock:
            known = [(entry, self._rows_of_entry[entry]) for entry in entries if entry in self._rows_of_entry]
            if not known:
                return {}
            # One reconstruct for all rows: per-entry calls cost ~0.1 ms each in FAISS's SWIG layer.
            scores = self._reconstruct(np.asarray([row for _, rows in known for row in rows], dtype=np.int64)) @ query
        found, start = {}, 0
        for entry, rows in known:
            best = int(np.argmax(scores[start : start + len(rows)]))
            found[entry] = DenseMatch(entry, float(scores[start + best]), best)
            start += len(rows)
        return found

    def vectors_of(self, entries: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The stored vectors of `entries` and the entry of each row (the classifier's training data)."""
        with self._lock:
            known = [(entry, self._rows_of_entry[entry]) for entry in entries if entry in self._rows_of_entry]
            rows = np.asarray([row for _, rows in known for row in rows], dtype=np.int64)
            labels = np.asarray([entry for entry, rows in known for _ in rows], dtype=np.int64)
            vectors = self._reconstruct(rows) if len(rows) else np.zeros((0, self.dimension), dtype=np.float32)
        return vectors, labels

    # -- snapshots (their files: retrieval.dense_snapshots) ------------------------------------------

    @contextmanager
    def frozen(self) -> Iterator[tuple[faiss.Index, np.ndarray, np.ndarray]]:
        """The FAISS index with each row's vector id and fingerprint, unchanged while the block runs."""
        with self._lock:
            rows = self._faiss.ntotal
            yield self._faiss, self._vector_of_row[:rows], self._fingerprint_of_row[:rows]

    @classmethod
    def restored(cls, stored: faiss.Index, vector_of_row: np.ndarray, fingerprint_of_row: np.ndarray,
                 dimension: int, model_id: str, config: DenseConfig = DenseConfig()) -> "DenseIndex":
        """An index over the `stored` FAISS rows, each with the vector id and fingerprint it was saved with."""
        index = cls(dimension, model_id, config)
        index._faiss = stored
        if isinstance(stored, faiss.IndexHNSW):
            stored.hnsw.efSearch = config.hnsw_ef_search
        index._vector_of_row = np.full(max(len(vector_of_row), _GROW), -1, dtype=np.int64)
        index._vector_of_row[: len(vector_of_row)] = vector_of_row
        index._fingerprint_of_row = np.zeros(len(index._vector_of_row), dtype=np.int64)
        index._fingerprint_of_row[: len(fingerprint_of_row)] = fingerprint_of_row
        for row, vector_id in enumerate(vector_of_row.tolist()):
            if vector_id >= 0:
                index._rows_of_entry.setdefault(entry_of_vector(vector_id)[0], []).append(row)
                index._live += 1
        return index


def _add(index: faiss.Index, vectors: np.ndarray) -> None:
    if len(vectors) < 1024:
        index.add(vectors)
        return
    faiss.omp_set_num_threads(_BUILD_THREADS)
    try:
        index.add(vectors)
    finally:
        faiss.omp_set_num_threads(1)
