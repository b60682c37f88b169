"""Choosing the faq / generate / fallback thresholds from labelled questions.

Method (docs/thresholds.md has the figures):
- every labelled query is searched exactly as chat searches; its best hit's score is recorded;
- **faq threshold**: the lowest score at which answering verbatim is right at least `target_precision` of
  the time. A verbatim answer counts as right only for an in-scope query whose best hit is its FAQ; partial
  and out-of-scope queries above the threshold count as wrong;
- **generate threshold**: the score that best separates answerable queries (in-scope and partial) from
  out-of-scope ones (maximum of Youden's J = true-positive rate − false-positive rate), capped at the faq
  threshold. Below it the bot falls back without calling the LM.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import yaml


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    expected: frozenset[str]  # FAQ questions that answer it; empty when out of scope
    group: str  # in_scope / partial / out_of_scope


@dataclass(frozen=True)
class Scored:
    query: LabelledQuery
    score: float
    top_question: str

    @property
    def correct(self) -> bool:
        return self.query.group == "in_scope" and self.top_question in self.query.expected


@dataclass(frozen=True)
class Calibration:
    faq_threshold: float
    generate_threshold: float
    faq_precision: float
    faq_coverage: float  # share of in-scope queries answered verbatim
    answerable_recall: float  # share of in-scope + partial queries not sent to fallback
    out_of_scope_rejected: float  # share of out-of-scope queries sent to fallback
    top1_accuracy: float
    counts: dict[str, int]


def load_eval_set(path: Path) -> list[LabelledQuery]:
    data = yaml.safe_load(path.read_text())
    queries = [LabelledQuery(x["query"], frozenset([x["faq"]]), "in_scope") for x in data.get("in_scope", [])]
    queries += [LabelledQuery(x["query"], frozenset(x["faqs"]), "partial") for x in data.get("partial", [])]
    queries += [LabelledQuery(q, frozenset(), "out_of_scope") for q in data.get("out_of_scope", [])]
    return queries


def score_queries(queries: list[LabelledQuery], best_hit: Callable[[str], tuple[float, str]]) -> list[Scored]:
    """`best_hit(query)` returns (score, question) of the best FAQ, or (0.0, "") when there is none."""
    return [Scored(query, *best_hit(query.query)) for query in queries]


def calibrate(scored: list[Scored], target_precision: float = 0.95) -> Calibration:
    grid = np.round(np.arange(0.30, 2.005, 0.01), 2)  # confidences: cosine + classifier probability
    in_scope = [s for s in scored if s.query.group == "in_scope"]
    answerable = [s for s in scored if s.query.group != "out_of_scope"]
    out_of_scope = [s for s in scored if s.query.group == "out_of_scope"]

    def precision(t: float) -> float:
        above = [s for s in scored if s.score >= t]
        return sum(s.correct for s in above) / len(above) if above else 1.0

    faq = next((float(t) for t in grid if precision(t) >= target_precision), float(grid[-1]))

    def youden(t: float) -> float:
        tpr = sum(s.score >= t for s in answerable) / max(len(answerable), 1)
        fpr = sum(s.score >= t for s in out_of_scope) / max(len(out_of_scope), 1)
        return tpr - fpr

    generate = min(max(grid, key=youden), faq)
    return Calibration(
        faq_threshold=faq,
        generate_threshold=float(generate),
        faq_precision=round(precision(faq), 3),
        faq_coverage=round(sum(s.correct and s.score >= faq for s in in_scope) / max(len(in_scope), 1), 3),
        answerable_recall=round(sum(s.score >= generate for s in answerable) / max(len(answerable), 1), 3),
        out_of_scope_rejected=round(sum(s.score < generate for s in out_of_scope) / max(len(out_of_scope), 1), 3),
        top1_accuracy=round(sum(s.correct for s in in_scope) / max(len(in_scope), 1), 3),
        counts={"in_scope": len(in_scope), "partial": len(answerable) - len(in_scope),
                "out_of_scope": len(out_of_scope)},
    )
