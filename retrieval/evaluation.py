"""How well search finds the right entry: top-1, recall@5 and MRR per retriever, side by side.

Queries are embedded once in batches and searched through the same `SearchIndex.search` the bot uses,
once per mode (dense, BM25, hybrid), so the three columns differ only in the ranking.
"""

import csv
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from retrieval.benchmarks import NO_ANSWER
from retrieval.entries import EntryKind, ref
from retrieval.errors import KnowledgeError
from retrieval.faqs import FaqDraft, make_draft
from retrieval.knowledge_base import KnowledgeBase

MODES = ("dense", "lexical", "rrf", "hybrid")
MODE_NAMES = {"dense": "dense (FAISS)", "lexical": "BM25 (Tantivy)", "rrf": "RRF (before 2026-12)",
              "hybrid": "hybrid (cosine + BM25 + classifier)"}
DEPTH = 10  # ranks looked at; MRR counts a hit below rank 10 as 0


class UnreadableEvalFile(KnowledgeError):
    pass


@dataclass(frozen=True)
class EvalQuery:
    text: str
    expected: str  # "faq:12" or "document:3" (any chunk of the document counts)


@dataclass(frozen=True)
class ModeScores:
    mode: str
    top1: float
    recall_at_5: float
    mrr: float
    p50_ms: float  # index search only; the query embedding is shared and timed separately


@dataclass
class RetrievalReport:
    dataset: str
    queries: int
    entries: int
    embedding_model: str
    fusion: dict
    modes: list[ModeScores]
    embed_ms_per_query: float
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def markdown(self) -> str:
        heading = (f"Retrieval on {self.dataset}: {self.queries} queries over {self.entries} FAQs and passages, "
                   f"{self.embedding_model}, hybrid BM25 weight {self.fusion['lexical_weight']}.")
        lines = [heading, "",
                 "| retriever | top-1 | recall@5 | MRR@10 | search p50 (ms) |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {_mode_name(m.mode)} | {m.top1:.4f} | "
                  f"{m.recall_at_5:.4f} | {m.mrr:.4f} | {m.p50_ms:.2f} |"
                  for m in self.modes]
        return "\n".join(lines) + "\n"


def _mode_name(mode: str) -> str:
    if mode in MODE_NAMES:
        return MODE_NAMES[mode]
    if mode.startswith("hybrid@answer="):
        return f"hybrid, answer weight {mode.split('=')[1]}"
    return mode.replace("hybrid@", "hybrid, BM25 weight ")


def parse_expected(value: str) -> str:
    value = value.strip()
    if value.isdigit():
        return f"faq:{value}"
    kind, _, number = value.partition(":")
    if kind in ("faq", "document") and number.isdigit():
        return f"{kind}:{number}"
    raise ValueError(f"expected id {value!r} is neither an FAQ id (12 or faq:12) nor document:ID")


def read_eval_csv(path: Path) -> list[EvalQuery]:
    """A CSV with columns `query` and `expected_id`."""
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UnreadableEvalFile(f"{path}: cannot read it: {error}") from None
    if not rows or not {"query", "expected_id"} <= set(rows[0]):
        raise UnreadableEvalFile(f"{path.name}: needs a header with columns `query` and `expected_id`.")
    queries = []
    for number, row in enumerate(rows, start=1):
        try:
            queries.append(EvalQuery(row["query"].strip(), parse_expected(row["expected_id"] or "")))
        except ValueError as error:
            raise UnreadableEvalFile(f"{path.name} row {number}: {error}") from None
    return [query for query in queries if query.text]


@dataclass(frozen=True)
class Banking77:
    drafts: list[FaqDraft]  # one FAQ per intent; its train utterances are its questions
    queries: list[tuple[str, str]]  # (test utterance, intent)
    intents: list[str]  # of each draft, as the CSV spells it (tags are lower-cased)


def load_banking77(folder: Path, max_train_per_intent: int | None = None, max_test_per_intent: int | None = None,
                   intents: int | None = None) -> Banking77:
    """The PolyAI Banking77 CSVs (`text,category`); the limits make small, stratified subsets for tests."""
    train, test = _by_intent(folder / "train.csv"), _by_intent(folder / "test.csv")
    chosen = sorted(train)[:intents] if intents else sorted(train)
    drafts = [make_draft(texts[0], NO_ANSWER, texts[1:max_train_per_intent], ["banking77", intent])
              for intent, texts in ((i, train[i]) for i in chosen)]
    queries = [(text, intent) for intent in chosen for text in test.get(intent, [])[:max_test_per_intent]]
    return Banking77(drafts, queries, chosen)


def _by_intent(path: Path) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            grouped[row["category"]].append(row["text"].strip())
    return grouped


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
    classifier = knowledge.calibrator.classifier
    for mode, fusion in runs:
        ranks, timings = [], []
        for query, vector in zip(queries, vectors):
            began = time.perf_counter()
            candidates = knowledge.index.search(vector, query.text, DEPTH, fusion=fusion, classifier=classifier)
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


def write_report(report: RetrievalReport, folder: Path) -> list[Path]:
    """retrieval.json, retrieval.md and retrieval.png in `folder`."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "retrieval.json", folder / "retrieval.md", folder / "retrieval.png"]
    paths[0].write_text(json.dumps(asdict(report), indent=2) + "\n")
    paths[1].write_text(report.markdown())
    metrics = [("top1", "top-1"), ("recall_at_5", "recall@5"), ("mrr", "MRR@10")]
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(report.modes)
    for i, scores in enumerate(report.modes):
        values = [getattr(scores, name) for name, _ in metrics]
        label = _mode_name(scores.mode)
        bars = axes.bar([m + i * width for m in range(len(metrics))], values, width, label=label)
        axes.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    axes.set_xticks([m + width * (len(report.modes) - 1) / 2 for m in range(len(metrics))],
                    [label for _, label in metrics])
    lowest = min(getattr(scores, name) for scores in report.modes for name, _ in metrics)
    axes.set_ylim(max(0.0, lowest - 0.1), 1.04)  # zoomed: the retrievers differ by hundredths
    axes.set_title(f"Retrieval on {report.dataset} ({report.queries} queries)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.tight_layout()
    figure.savefig(paths[2], dpi=120)
    plt.close(figure)
    return paths
