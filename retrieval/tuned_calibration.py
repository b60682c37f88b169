"""A fine-tuned embedder's thresholds: calibrated on held-out copies of it, kept in the model's folder.

An embedder fine-tuned on the knowledge base's own questions has seen every question cross-validation
(retrieval/self_calibration.py) would hold out, so it is calibrated by `calibrate_held_out` instead, on copies
of it trained without them (training/embedder_calibration.py); the result is kept in the model's folder
(`CALIBRATION_FILE`) and the calibrator uses it whenever that model serves.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.blend_choice import answer_weights, best_faq, choose_blend, faq_scores
from retrieval.calibrated_thresholds import MIN_HELD_OUT, Calibrated, thresholds
from retrieval.classifier import FaqClassifier

CALIBRATION_FILE = "helpdesk-calibration.json"


@dataclass(frozen=True)
class HeldOutFold:
    """One held-out copy of a fine-tuned embedder (training/embedder_calibration.py), as embeddings: the
    knowledge base's texts it was trained on (`vectors`, `labels`), answerable questions of those FAQs it was
    not (`queries`, `query_labels`), questions of FAQs left out whole (`uncovered`) and `off_topic`."""

    vectors: np.ndarray
    labels: np.ndarray
    queries: np.ndarray
    query_labels: np.ndarray
    uncovered: np.ndarray
    off_topic: np.ndarray


def calibrate_held_out(folds: list[HeldOutFold], faqs: int, questions: int) -> Calibrated | None:
    """Thresholds from fixed held-out folds instead of cross-validation of one set of embeddings; the three
    samples are pooled over the folds. `faqs`, `questions`: the knowledge base's, recorded on the result.
    None when there is too little to learn from."""
    started = time.perf_counter()
    trained, answerable, uncovered, off = [], [], [], []  # trained: (fold, its classifier) per usable fold
    for fold in folds:
        keep = np.isin(fold.query_labels, fold.labels)
        classifier = FaqClassifier.train(fold.vectors, fold.labels)
        if classifier is None or not keep.any():
            continue
        trained.append((fold, classifier))
        answerable.append((faq_scores(fold.vectors, fold.labels, classifier, fold.queries[keep]),
                           fold.query_labels[keep]))
    if sum(len(truth) for _, truth in answerable) < MIN_HELD_OUT:
        return None
    chosen, blend_top1, answer_top1 = choose_blend(answerable, answer_weights(0.0))  # made without answers
    for fold, classifier in trained:
        for sample, into in ((fold.uncovered, uncovered), (fold.off_topic, off)):
            if len(sample):
                into.append(best_faq(faq_scores(fold.vectors, fold.labels, classifier, sample), *chosen)[1])
    return thresholds(answerable, chosen, (blend_top1, answer_top1),
                      np.concatenate(uncovered) if uncovered else np.zeros(0),
                      np.concatenate(off) if off else np.zeros(0), faqs, questions, "held-out model", started)


@dataclass(frozen=True)
class ModelCalibration:
    """What a fine-tuned embedder's folder says about thresholds for it (`CALIBRATION_FILE`): `calibrated`
    is None when its knowledge base was too small to hold questions out, with `note` saying so."""

    calibrated: Calibrated | None
    note: str = ""


def save_model_calibration(folder: Path, calibration: ModelCalibration) -> None:
    payload = {"calibrated": calibration.calibrated.as_dict() if calibration.calibrated else None,
               "note": calibration.note}
    (Path(folder) / CALIBRATION_FILE).write_text(json.dumps(payload, indent=2) + "\n")


def load_model_calibration(folder: str | Path) -> ModelCalibration | None:
    """The calibration a fine-tuned embedder was saved with; None for any other model (a stock one, or one
    tuned before 2026-12-01 evening), which the knowledge base calibrates by cross-validation instead."""
    path = Path(folder).expanduser() / CALIBRATION_FILE
    try:
        payload = json.loads(path.read_text())
        calibrated = payload.get("calibrated")
        return ModelCalibration(Calibrated(**calibrated) if calibrated else None, str(payload.get("note", "")))
    except (OSError, ValueError, TypeError, AttributeError):  # unreadable: as if there were none
        return None
