"""Fusing the dense and the BM25 ranking into one list (reciprocal rank fusion).

RRF (Cormack et al., 2009) adds w / (k + rank) over the rankings an entry appears in. It needs no score
normalisation, which matters here: cosines and BM25 scores live on unrelated scales. The fused number
only orders results; the faq/generate/fallback decision keeps using the calibrated dense cosine.
"""

from dataclasses import dataclass
from typing import Literal

SearchMode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class FusionConfig:
    mode: SearchMode = "hybrid"
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 0.3  # dense ranks weigh 1; 0.3 was best on Banking77 (docs/knowledge.md)


@dataclass(frozen=True)
class Candidate:
    entry: int
    position: int  # which of the entry's texts matched best (dense when known)
    dense: float | None  # cosine similarity; None when the entry has no vector
    dense_rank: int | None  # 1-based rank in the dense list; None when only BM25 found it
    lexical: float | None  # BM25 score
    lexical_rank: int | None
    fused: float


def reciprocal_rank_fusion(dense: list[int], lexical: list[int], config: FusionConfig) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking, weight in ((dense, config.dense_weight), (lexical, config.lexical_weight)):
        for rank, entry in enumerate(ranking, start=1):
            fused[entry] = fused.get(entry, 0.0) + weight / (config.rrf_k + rank)
    return fused


def order_key(config: FusionConfig):
    """Sort key for candidates in `config.mode`; ties go to the higher cosine."""
    def dense(c: Candidate) -> tuple:
        return (c.dense if c.dense is not None else -2.0,)

    def lexical(c: Candidate) -> tuple:
        return (c.lexical or 0.0, *dense(c))

    def hybrid(c: Candidate) -> tuple:
        return (c.fused, *dense(c))

    return {"dense": dense, "lexical": lexical, "hybrid": hybrid}[config.mode]
