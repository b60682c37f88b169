"""Decision thresholds learned from the knowledge base itself, with no labelled eval file.

A knowledge base already holds labelled questions: every FAQ's question and alternative questions. Cross-
validation turns them into the three kinds of traffic a bot sees (docs/thresholds.md has the figures):
- **answerable**: each FAQ's texts are split into `FOLDS` folds; a fold is held out, the classifier and the
  nearest-neighbour index are built from the rest, and each held-out question is searched. It is answered
  right when its own FAQ ranks first;
- **in-domain but not covered**: whole FAQs are held out in `FOLDS` folds; their questions are searched
  against the others. They sound like the knowledge base but nothing in it answers them;
- **off-topic**: a shipped list of questions no support knowledge base answers (`off_topic.txt`, written
  for this project).

The confidence of a search is the cosine of the best FAQ's best-matching question plus the classifier's
probability of that FAQ (0 to 2). Which blend of the classifier's parts gives that probability
(`retrieval.classifier`: logistic regression and nearest-neighbour vote, or cosine alone) is chosen first,
on the same held-out answerable questions: the blend that ranks most of them right. From the three score
samples, with that blend:
- **generate threshold** (answer at all, else the fallback): keeps `KEEP_ANSWERABLE` of the answerable
  questions that were ranked right, raised until it rejects `REJECT_OFF_TOPIC` of the off-topic ones, but
  never so far that it keeps fewer than `KEEP_AT_LEAST` of them (a knowledge base about alarms or recipes
  answers some "off-topic" questions, and must not be gagged by them);
- **faq threshold** (the curated answer verbatim): the lowest confidence at which the held-out answerable
  questions are ranked right at least `VERBATIM_PRECISION` of the time.
Both were chosen on Banking77-OOS valid and the sample shop, then checked on Banking77-OOS test, HWU64 and
Bitext (docs/thresholds.md).

An embedder fine-tuned on the knowledge base's own questions has seen every question this would hold out, so
it is calibrated by `calibrate_held_out` instead, on copies of it trained without them
(training/embedder_calibration.py); the result is kept in the model's folder (`CALIBRATION_FILE`) and the
calibrator uses it whenever that model serves.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np

from retrieval.classifier import FaqClassifier, blend
from retrieval.hybrid import CLASSIFIER_MIN_COSINE

FOLDS = 5
KEEP_ANSWERABLE = 0.94  # chosen on Banking77-OOS valid among 0.95, 0.945, 0.94, 0.935 (docs/thresholds.md)
REJECT_OFF_TOPIC = 0.95
KEEP_AT_LEAST = 0.90
VERBATIM_PRECISION = 0.98
UNCOVERED_SHARE = 0.25  # uncovered questions per answerable one, when weighing verbatim precision
MIN_HELD_OUT = 20  # fewer held-out questions than this say nothing reliable: keep the defaults
_GRID = np.round(np.arange(0.30, 2.005, 0.01), 2)
# (scale, neighbour weight) blends of the classifier tried on the held-out questions, in order of preference
# when they rank equally well: the logistic regression alone first, cosine alone (scale 0) last. Another
# blend must beat the first significantly (`_clearly_better`)...
BLENDS = ((1.0, 0.0), (1.0, 0.25), (1.0, 0.5), (1.0, 0.75), (0.0, 0.0))
BLEND_MARGIN = 0.002  # and a blend must rank this much more of them right to replace an earlier one


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

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelCalibration:
    """What a fine-tuned embedder's folder says about thresholds for it (`CALIBRATION_FILE`): `calibrated`
    is None when its knowledge base was too small to hold questions out, with `note` saying so."""

    calibrated: Calibrated | None
    note: str = ""


CALIBRATION_FILE = "helpdesk-calibration.json"


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


def off_topic_questions() -> list[str]:
    text = resources.files("retrieval").joinpath("off_topic.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _scores(train_vectors: np.ndarray, train_labels: np.ndarray, classifier: FaqClassifier | None,
            queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(labels, cosine, logistic, vote): per query and FAQ label, the best cosine and the classifier's parts."""
    order = np.argsort(train_labels, kind="stable")
    labels, starts = np.unique(train_labels[order], return_index=True)
    cosine = np.maximum.reduceat(queries @ train_vectors[order].T, starts, axis=1)
    if classifier is None:
        return labels, cosine, None, None
    columns = [{entry: i for i, entry in enumerate(classifier.entries.tolist())}[label] for label in labels.tolist()]
    vote = classifier.vote(queries)[:, columns] if classifier.texts is not None else None
    return labels, cosine, classifier.logistic(queries)[:, columns], vote


def _best(scores: tuple, scale: float, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(best FAQ label, confidence) of each query under one blend, scored as live search scores FAQs."""
    labels, cosine, logistic, vote = scores
    if logistic is not None and scale > 0:
        cosine = cosine + np.where(cosine >= CLASSIFIER_MIN_COSINE, blend(logistic, vote, weight, scale), 0.0)
    best = cosine.argmax(axis=1)
    return labels[best], cosine[np.arange(len(cosine)), best]


def _choose_blend(folds: list[tuple[tuple, np.ndarray]]) -> tuple[tuple[float, float], dict]:
    """The blend that ranks most held-out questions right; `folds`: (scores, true labels) per fold. The plain
    logistic regression (the first) stays unless another blend is clearly better than it
    (`_clearly_better`: significantly more questions won than lost), so that 132 held-out questions do not
    switch a knowledge base to cosine alone because one of them went the other way; among those, an earlier
    one stays unless a later one ranks `BLEND_MARGIN` more of the questions right."""
    right = {(scale, weight): np.concatenate([_best(scores, scale, weight)[0] == truth for scores, truth in folds])
             for scale, weight in BLENDS}
    top1 = {blend: float(hits.mean()) for blend, hits in right.items()}
    chosen = BLENDS[0]
    for candidate in BLENDS[1:]:
        if _clearly_better(right[candidate], right[BLENDS[0]]) and top1[candidate] >= top1[chosen] + BLEND_MARGIN:
            chosen = candidate
    return chosen, {f"{scale:g}/{weight:g}": round(share, 4) for (scale, weight), share in top1.items()}


def _clearly_better(candidate: np.ndarray, current: np.ndarray) -> bool:
    """McNemar's test, one-sided at ~2.5%: of the questions the two rank differently, the candidate must get
    right more than half by two standard deviations."""
    wins, losses = int((candidate & ~current).sum()), int((~candidate & current).sum())
    return wins - losses >= max(BLEND_MARGIN * len(candidate), 2 * np.sqrt(wins + losses))


def calibrate(vectors: np.ndarray, labels: np.ndarray, off_topic: np.ndarray, seed: int = 0) -> Calibrated | None:
    """Thresholds for a knowledge base whose FAQ texts have unit embeddings `vectors` and FAQ entry ids
    `labels`; `off_topic`: embeddings of `off_topic_questions()`. None when there is too little to learn from."""
    started = time.perf_counter()
    faqs = np.unique(labels)
    if len(faqs) < 3:
        return None
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    for faq in faqs:
        rows = np.flatnonzero(labels == faq)
        fold[rows] = rng.permutation(len(rows)) % FOLDS
    splits = [(fold != k, (fold == k) & np.isin(labels, labels[fold != k])) for k in range(FOLDS)]
    # (an FAQ with one text is never held out from itself)
    if sum(int(test.sum()) for _, test in splits) < MIN_HELD_OUT:
        return None
    folds = [(_scores(vectors[train], labels[train], FaqClassifier.train(vectors[train], labels[train]),
                      vectors[test]), labels[test]) for train, test in splits if test.any()]
    chosen, blend_top1 = _choose_blend(folds)
    faq_fold = rng.permutation(len(faqs)) % min(FOLDS, len(faqs))
    uncovered = []
    for k in np.unique(faq_fold):
        held = np.isin(labels, faqs[faq_fold == k])
        classifier = FaqClassifier.train(vectors[~held], labels[~held])
        uncovered.append(_best(_scores(vectors[~held], labels[~held], classifier, vectors[held]), *chosen)[1])
    off = (_best(_scores(vectors, labels, FaqClassifier.train(vectors, labels), off_topic), *chosen)[1]
           if len(off_topic) else np.zeros(0))
    return _thresholds(folds, chosen, blend_top1, np.concatenate(uncovered), off, len(faqs), len(labels),
                       "cross-validation", started)


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
        answerable.append((_scores(fold.vectors, fold.labels, classifier, fold.queries[keep]),
                           fold.query_labels[keep]))
    if sum(len(truth) for _, truth in answerable) < MIN_HELD_OUT:
        return None
    chosen, blend_top1 = _choose_blend(answerable)
    for fold, classifier in trained:
        for sample, into in ((fold.uncovered, uncovered), (fold.off_topic, off)):
            if len(sample):
                into.append(_best(_scores(fold.vectors, fold.labels, classifier, sample), *chosen)[1])
    return _thresholds(answerable, chosen, blend_top1, np.concatenate(uncovered) if uncovered else np.zeros(0),
                       np.concatenate(off) if off else np.zeros(0), faqs, questions, "held-out model", started)


def _thresholds(folds: list[tuple[tuple, np.ndarray]], chosen: tuple[float, float], blend_top1: dict,
                uncovered: np.ndarray, off: np.ndarray, faqs: int, questions: int, method: str,
                started: float) -> Calibrated:
    """The generate and faq thresholds from the held-out answerable questions (`folds`), the uncovered and
    the off-topic ones, all scored with the `chosen` blend."""
    scale, weight = chosen
    right, answerable = [], []
    for scores, truth in folds:
        best, score = _best(scores, scale, weight)
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
        neighbour_weight=weight, classifier_scale=scale, blend_top1=blend_top1,
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
