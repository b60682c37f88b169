"""The retrieval evaluation's report: scores per retriever, as a table, JSON and a bar chart."""

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MODE_NAMES = {"dense": "dense (FAISS)", "lexical": "BM25 (Tantivy)", "rrf": "RRF (before 2026-12)",
              "hybrid": "hybrid (cosine + BM25 + classifier)"}


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
