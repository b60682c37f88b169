"""How well search finds the right entry: top-1, recall@5 and MRR per retriever, side by side.

Queries are embedded once in batches and searched through the same `SearchIndex.search` the bot uses,
once per mode (dense, BM25, hybrid), so the three columns differ only in the ranking.
"""

import time
from dataclasses import replace

from retrieval.entries import EntryKind, ref
from retrieval.eval_queries import EvalQuery
from retrieval.knowledge_base import KnowledgeBase
from retrieval.retrieval_report import ModeScores, RetrievalReport

MODES = ("dense", "lexical", "rrf", "hybrid")
DEPTH = 10  # ranks looked at; MRR counts a hit below rank 10 as 0


def evaluate(knowledge: KnowledgeBase, queries: list[EvalQuery], dataset: str, modes: tuple[str, ...] = MODES,
             extra_lexical_weights: tuple[float, ...] = (), extra_answer_weights: tuple[float, ...] = ()
             ) -> RetrievalReport:
    """`extra_lexical_weights` add hybrid rows with other BM25 weights (named hybrid@W), `extra_answer_weights`
    with other weights of the answers' cosine (hybrid@answer=W), to tune the fusion."""
    started = time.perf_counter()
    vectors = knowledge.embedder.embed([query.text for query in queries])
    embed_ms = (time.perf_counter() - started) * 1000 / max(len(queries), 1)
    knowledge.index.refresh(force=True)
    base = knowledge.fusion
    scores = []
    runs = [(mode, replace(base, mode=mode)) for mode in modes]
    runs += [(f"hybrid@{weight:g}", replace(base, mode="hybrid", lexical_weight=weight))
             for weight in extra_lexical_weights]
    runs += [(f"hybrid@answer={weight:g}", replace(base, mode="hybrid", answer_weight=weight))
             for weight in extra_answer_weights]
    for mode, fusion in runs:
        ranks, timings = [], []
        for query, vector in zip(queries, vectors):
            began = time.perf_counter()
            candidates = knowledge.candidates(vector, query.text, DEPTH, fusion=fusion)
            timings.append((time.perf_counter() - began) * 1000)
            found = [_key(knowledge, candidate.entry) for candidate in candidates]
            ranks.append(found.index(query.expected) + 1 if query.expected in found else None)
        scores.append(_scores(mode, ranks, timings))
    return RetrievalReport(dataset, len(queries), len(knowledge.index.dense.entries), knowledge.embedder.model_id,
                           {"rrf_k": base.rrf_k, "lexical_weight": base.lexical_weight,
                            "answer_weight": base.answer_weight}, scores, round(embed_ms, 2))


def _key(knowledge: KnowledgeBase, entry: int) -> str:
    entry_ref = ref(entry)
    if entry_ref.kind == EntryKind.FAQ:
        return f"faq:{entry_ref.id}"
    return f"document:{knowledge.documents.document_of_chunk(entry_ref.id)}"


def _scores(mode: str, ranks: list[int | None], timings: list[float]) -> ModeScores:
    count = max(len(ranks), 1)
    timings = sorted(timings) or [0.0]
    return ModeScores(
        mode=mode,
        top1=round(sum(rank == 1 for rank in ranks) / count, 4),
        recall_at_5=round(sum(rank is not None and rank <= 5 for rank in ranks) / count, 4),
        mrr=round(sum(1 / rank for rank in ranks if rank) / count, 4),
        p50_ms=round(timings[len(timings) // 2], 3),
    )
