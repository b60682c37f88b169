"""BM25 of a calibration fold's held-out questions, as live search would score them, for choosing the BM25 weight.

Each fold builds an in-memory Tantivy index (`retrieval.lexical.LexicalIndex`, stemming, CJK bigrams and the
per-language rule included) of the FAQ texts it keeps, and searches each held-out question to the depth live
search uses; an FAQ's score is its best text's, scaled by the question's best, as `retrieval.hybrid.fuse` scales
it. An FAQ BM25 did not find scores 0.

Cost: 10,003 Banking77 texts index in ~0.5 s and a question takes ~0.8 ms, so at most `SAMPLE` held-out
questions are searched over all folds (an even share of each): Banking77's whole calibration took 55 s instead
of 51 s (a busy 2-core VM, 2026-12-05).
"""

import numpy as np

from core.language_detection import LanguageDetector
from retrieval.lexical import LexicalIndex

SAMPLE = 2000
DEPTH = 30  # retrieval/search_index.py: max(top_k * 4, 30) for the top-k a search asks for


def sampled(rows: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """At most `share` of `rows`, chosen at random, in their order."""
    if share >= 1.0:
        return rows
    keep = max(1, int(round(len(rows) * share)))
    return np.sort(rng.choice(rows, size=keep, replace=False))


def fold_lexical(texts: list[str], labels: np.ndarray, train: np.ndarray, queries: np.ndarray,
                 columns: np.ndarray, detector: LanguageDetector | None = None) -> np.ndarray:
    """BM25 of the texts at rows `queries` against those at the `train` mask, per FAQ of `columns` (the labels
    in the order the fold's scores list them): shape (len(queries), len(columns)), each row scaled to [0, 1]."""
    grouped: dict[int, list[str]] = {}
    for row in np.flatnonzero(train):
        grouped.setdefault(int(labels[row]), []).append(texts[row])
    index = LexicalIndex(detector)
    index.upsert_many(list(grouped.items()))
    column_of = {int(label): i for i, label in enumerate(columns.tolist())}
    scores = np.zeros((len(queries), len(columns)), dtype=np.float32)
    for i, row in enumerate(queries.tolist()):
        for match in index.search(texts[row], DEPTH):
            if (column := column_of.get(match.entry)) is not None:
                scores[i, column] = match.score
    best = scores.max(axis=1, keepdims=True)
    return np.divide(scores, best, out=np.zeros_like(scores), where=best > 0)
