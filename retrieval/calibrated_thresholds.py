"""The faq and generate thresholds set from held-out scores, and `Calibrated`, the record of a calibration.

How each threshold is set, and on what: retrieval/self_calibration.py and docs/thresholds.md.
"""

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from retrieval.blend_choice import best_faq

KEEP_ANSWERABLE = 0.94  # chosen on Banking77-OOS valid among 0.95, 0.945, 0.94, 0.935 (docs/thresholds.md)
REJECT_OFF_TOPIC = 0.95
KEEP_AT_LEAST = 0.90
VERBATIM_PRECISION = 0.98
UNCOVERED_SHARE = 0.25  # uncovered questions per answerable one, when weighing verbatim precision
MIN_HELD_OUT = 20  # fewer held-out questions than this say nothing reliable: keep the defaults
_GRID = np.round(np.arange(0.30, 2.005, 0.01), 2)


@dataclass(frozen=True)
class Calibrated:
    faq_threshold: float
    generate_threshold: float
    faqs: int
    questions: int
    held_out: int  # answerable questions searched with their own text left out
    held_out_top1: float
    answered: float  # share of held-out answerable questions at or above the generate threshold
    verbatim: float  # share of held-out answerable questions answered verbatim and right
    verbatim_precision: float
    neighbour_weight: float  # the blend chosen (retrieval.classifier)
    classifier_scale: float  # 0: the knowledge base ranks on cosine alone
    blend_top1: dict  # held-out top-1 of each blend tried, "scale/weight" -> share
    uncovered_rejected: float  # questions of held-out FAQs sent to fallback
    off_topic_rejected: float
    seconds: float
    # "cross-validation" (the knowledge base's own questions, the default) or "held-out model" (an embedder
    # fine-tuned on them, calibrated at training time with a copy trained without some of them)
    method: str = "cross-validation"
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # the weight of the answers' cosine chosen with the blend; 0 for a calibration made without answers (a
    # tuned embedder's, or one saved before 2026-12-04), so that search ranks as the thresholds were set
    answer_weight: float = 0.0
    answer_top1: dict = field(default_factory=dict)  # held-out top-1 of each answer weight tried
    # the BM25 weight chosen last (retrieval/fold_lexical.py); None: the configured one (a tuned embedder's
    # calibration, or one saved before 2026-12-05)
    lexical_weight: float | None = None
    lexical_top1: dict = field(default_factory=dict)  # held-out top-1 of each BM25 weight tried

    def as_dict(self) -> dict:
        return asdict(self)


def thresholds(folds: list[tuple[tuple, np.ndarray]], chosen: tuple, top1: tuple[dict, ...], uncovered: np.ndarray,
               off: np.ndarray, faqs: int, questions: int, method: str, started: float) -> Calibrated:
    """The generate and faq thresholds from the held-out answerable questions (`folds`), the uncovered and
    the off-topic ones, all ranked with the `chosen` blend, answer weight and (when given, fourth) BM25 weight;
    `top1`: the held-out top-1 of each blend, answer weight and BM25 weight tried."""
    scale, weight, answer_weight, lexical_weight = (*chosen, None)[:4]
    right, answerable = [], []
    for scores, truth in folds:
        best, score = best_faq(scores, *chosen)
        right.append(best == truth)
        answerable.append(score)
    right, answerable = np.concatenate(right), np.concatenate(answerable)

    ranked_right = answerable[right] if right.any() else np.array([_GRID[-1]])
    kept, cap = np.quantile(ranked_right, 1 - KEEP_ANSWERABLE), np.quantile(ranked_right, 1 - KEEP_AT_LEAST)
    rejected = np.quantile(off, REJECT_OFF_TOPIC) if len(off) else _GRID[0]
    generate = round(float(np.clip(np.floor(min(max(kept, rejected), cap) * 100) / 100, _GRID[0], _GRID[-1])), 2)

    precision = _precision(answerable, right, uncovered)
    faq = next((float(t) for t in _GRID if t >= generate and precision(t) >= VERBATIM_PRECISION), float(_GRID[-1]))
    verbatim = right & (answerable >= faq)
    return Calibrated(
        faq_threshold=faq, generate_threshold=generate, faqs=faqs, questions=questions,
        held_out=len(answerable), held_out_top1=round(float(right.mean()), 4),
        answered=round(float((answerable >= generate).mean()), 4), verbatim=round(float(verbatim.mean()), 4),
        verbatim_precision=round(float(precision(faq)), 4),
        neighbour_weight=weight, classifier_scale=scale, blend_top1=top1[0], answer_weight=answer_weight,
        answer_top1=top1[1], lexical_weight=lexical_weight, lexical_top1=top1[2] if len(top1) > 2 else {},
        uncovered_rejected=round(float((uncovered < generate).mean()), 4) if len(uncovered) else 0.0,
        off_topic_rejected=round(float((off < generate).mean()), 4) if len(off) else 0.0,
        seconds=round(time.perf_counter() - started, 2), method=method,
    )


def _precision(answerable: np.ndarray, right: np.ndarray, uncovered: np.ndarray):
    """Right verbatim answers among all verbatim answers at a threshold, with uncovered questions counted
    at UNCOVERED_SHARE of the answerable traffic."""
    def precision(t: float) -> float:
        above = answerable >= t
        good = (right & above).mean()
        bad = (~right & above).mean() + (UNCOVERED_SHARE * (uncovered >= t).mean() if len(uncovered) else 0.0)
        return good / (good + bad) if good + bad > 0 else 1.0
    return precision
