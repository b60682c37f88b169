"""Fusing the dense cosine, BM25 and the FAQ classifier into one ranking and one confidence.

Default (`hybrid`), per candidate entry:

    fused = cosine + lexical_weight · bm25 / best bm25 of this query + classifier_weight · p(FAQ | query)

- `cosine`: the query against the entry's best-matching text (FAISS);
- `bm25 / best`: BM25 scaled to [0, 1] within the query (Tantivy), so its weight means the same on any
  corpus; an entry BM25 did not find scores 0;
- `p(FAQ | query)`: the knowledge base's own classifier (`retrieval.classifier`); 0 for document passages,
  for FAQs newer than the classifier and for FAQs whose cosine is below `CLASSIFIER_MIN_COSINE`.

The confidence the decision thresholds are set on is `cosine + p` of the entry (0 to 2; a passage's is its
cosine), without the BM25 term, whose per-query scaling says nothing about how good the best hit is.

Without a classifier (a knowledge base written as plain questions, with too few alternatives to calibrate on;
more than `MAX_FAQS`; the classifier switched off) it is `cosine + lead`: how far the FAQ's fusion (without the
product-code bonus) is ahead of the best other FAQ's, 0 for every FAQ but the first and for an FAQ with no other
to compare with, at most 1. The classifier's probability is a relative signal too (how much more this FAQ than
the others); a plain knowledge base's cosine alone has none, and a right first FAQ is mostly one that leads
clearly (docs/thresholds.md, "Without a classifier"). Such a knowledge base ranks its FAQs without the BM25 term
(`plain_ranking`); the lead is still read from the whole fusion.

Why not reciprocal rank fusion (the default until 2026-12): RRF only sees ranks, so a BM25 rank 1 on a
word the query shares with the wrong FAQ counts as much as a near-identical paraphrase; on a public FAQ
paraphrase set it cost 7 points of top-1 against dense alone. Score fusion with the weights below was at
least as good as dense on every dataset measured (docs/knowledge.md); RRF stays as mode `rrf` to compare.
"""

from dataclasses import dataclass
from typing import Literal

SearchMode = Literal["hybrid", "dense", "lexical", "rrf"]
# The classifier always names some FAQ, even for "SRK-7731" or a recipe: its probability only counts for an
# FAQ the query at least resembles. Costs ≤ 0.1 point of top-1 on the datasets measured (1 on HWU64 3-shot).
CLASSIFIER_MIN_COSINE = 0.3


@dataclass(frozen=True)
class FusionConfig:
    mode: SearchMode = "hybrid"
    lexical_weight: float = 0.2  # chosen on Banking77-OOS valid, HWU64 valid and the sample KB (docs/knowledge.md)
    classifier_weight: float = 1.0
    answer_weight: float = 1.0  # of the query's cosine with an FAQ's answer; the calibration may lower it
    rrf_k: int = 60  # mode rrf only
    rrf_lexical_weight: float = 0.3  # mode rrf only: the old default


@dataclass(frozen=True)
class Candidate:
    entry: int
    position: int  # which of the entry's texts matched best (dense when known)
    dense: float | None  # cosine similarity; None when the entry has no vector
    dense_rank: int | None  # 1-based rank in the dense list; None when only BM25 or the classifier found it
    lexical: float | None  # BM25 score
    lexical_rank: int | None
    probability: float | None  # the classifier's p(FAQ | query); None for passages or without a classifier
    fused: float
    answer: float | None = None  # cosine of the query and the FAQ's answer; None for passages or when unused
    lead: float | None = None  # without a classifier: how far its fusion is ahead of the best other FAQ's (≥ 0)

    @property
    def confidence(self) -> float:
        """What the thresholds are set on: cosine + classifier probability, or cosine + lead without a classifier."""
        relative = self.probability if self.probability is not None else self.lead
        return (self.dense if self.dense is not None else 0.0) + (relative or 0.0)


def fuse(dense: float | None, lexical: float | None, best_lexical: float, probability: float | None,
         config: FusionConfig, answer: float | None = None) -> float:
    cosine = dense if dense is not None else 0.0
    return (cosine + lexical_term(lexical, best_lexical, config) + config.classifier_weight * (probability or 0.0)
            + config.answer_weight * (answer or 0.0))


def lexical_term(lexical: float | None, best_lexical: float, config: FusionConfig) -> float:
    """BM25's share of the fusion: its score scaled by the query's best, times the lexical weight."""
    scaled = (lexical or 0.0) / best_lexical if best_lexical > 0 else 0.0
    return config.lexical_weight * scaled


MAX_LEAD = 1.0  # as a probability: the relative term never counts for more than the cosine can


def leads(fused: dict[int, float]) -> dict[int, float]:
    """Each FAQ's lead: its fusion minus the best other FAQ's, ≥ 0 and at most `MAX_LEAD`; 0 when it has none to
    compare with (a knowledge base of one FAQ, a filter that leaves one)."""
    if len(fused) < 2:
        return dict.fromkeys(fused, 0.0)
    first, second = sorted(fused.values(), reverse=True)[:2]
    return {entry: min(max(score - second, 0.0), MAX_LEAD) if score == first else 0.0
            for entry, score in fused.items()}


def plain_ranking(candidate: Candidate, best_lexical: float, config: FusionConfig) -> float:
    """An FAQ's fusion without its BM25 term, which ranks a knowledge base without a classifier. With one short text
    per FAQ, BM25's best hit often shares only a common word ("card", "order") with the question, and the scaled
    term gives it the full weight: hybrid ranked 6 points below dense on Banking77 written as plain questions,
    while without it hybrid is at least dense on every plain split measured (docs/knowledge.md). The lead is still
    read with BM25 (`leads` over the whole fusion), where it separates right from wrong first FAQs better
    (docs/thresholds.md); the FAQ ranked first gets it only when the whole fusion ranks it first too."""
    return candidate.fused - lexical_term(candidate.lexical, best_lexical, config)


def reciprocal_rank_fusion(dense: list[int], lexical: list[int], config: FusionConfig) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking, weight in ((dense, 1.0), (lexical, config.rrf_lexical_weight)):
        for rank, entry in enumerate(ranking, start=1):
            fused[entry] = fused.get(entry, 0.0) + weight / (config.rrf_k + rank)
    return fused


def order_key(config: FusionConfig):
    """Sort key for candidates in `config.mode`; ties go to the higher cosine."""
    def dense(c: Candidate) -> tuple:
        return (c.dense if c.dense is not None else -2.0,)

    def lexical(c: Candidate) -> tuple:
        return (c.lexical or 0.0, *dense(c))

    def fused(c: Candidate) -> tuple:
        return (c.fused, *dense(c))

    return {"dense": dense, "lexical": lexical, "hybrid": fused, "rrf": fused}[config.mode]
