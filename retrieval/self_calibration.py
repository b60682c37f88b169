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
on the same held-out answerable questions: the blend that ranks most of them right; then, with that blend,
how much the cosine of the query and an FAQ's *answer* adds to the ranking (`answer_weights`: the configured
weight, half of it, or none; retrieval/hybrid.py). A knowledge base too small to hold questions out (plain
questions, no alternatives) is not calibrated and ranks with the configured weight. From the three score
samples, with that blend and answer weight:
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


def answer_weights(configured: float) -> tuple[float, ...]:
    """The answer weights tried, in order of preference (the same rule as the blends)."""
    return (configured, configured / 2, 0.0) if configured > 0 else (0.0,)


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


Answers = dict[int, np.ndarray]  # FAQ label -> unit embedding of its answer


def _scores(train_vectors: np.ndarray, train_labels: np.ndarray, classifier: FaqClassifier | None,
            queries: np.ndarray, answers: Answers | None = None) -> tuple:
    """(labels, cosine, logistic, vote, answer): per query and FAQ label, the best cosine, the classifier's
    parts and the cosine with the FAQ's answer (None where there is none)."""
    order = np.argsort(train_labels, kind="stable")
    labels, starts = np.unique(train_labels[order], return_index=True)
    cosine = np.maximum.reduceat(queries @ train_vectors[order].T, starts, axis=1)
    answer = queries @ np.stack([answers[label] for label in labels.tolist()]).T if answers else None
    if classifier is None:
        return labels, cosine, None, None, answer
    columns = [{entry: i for i, entry in enumerate(classifier.entries.tolist())}[label] for label in labels.tolist()]
    vote = classifier.vote(queries)[:, columns] if classifier.texts is not None else None
    return labels, cosine, classifier.logistic(queries)[:, columns], vote, answer


def _best(scores: tuple, scale: float, weight: float, answer_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(best FAQ label, confidence) of each query under one blend and answer weight, ranked as live search ranks
    FAQs; the confidence leaves the answer out, as live search does."""
    labels, cosine, logistic, vote, answer = scores
    if logistic is not None and scale > 0:
        cosine = cosine + np.where(cosine >= CLASSIFIER_MIN_COSINE, blend(logistic, vote, weight, scale), 0.0)
    ranking = cosine + answer_weight * answer if answer is not None and answer_weight > 0 else cosine
    best = ranking.argmax(axis=1)
    return labels[best], cosine[np.arange(len(cosine)), best]


def _choose(folds: list[tuple[tuple, np.ndarray]], candidates: list[tuple]) -> tuple[tuple, dict]:
    """The candidate (scale, neighbour weight, answer weight) that ranks most held-out questions right; `folds`:
    (scores, true labels) per fold. The first stays unless another is clearly better than it
    (`_clearly_better`: significantly more questions won than lost), so that 132 held-out questions do not
    switch a knowledge base to cosine alone because one of them went the other way; among those, an earlier
    one stays unless a later one ranks `BLEND_MARGIN` more of the questions right."""
    right = {c: np.concatenate([_best(scores, *c)[0] == truth for scores, truth in folds]) for c in candidates}
    top1 = {candidate: float(hits.mean()) for candidate, hits in right.items()}
    chosen = candidates[0]
    for candidate in candidates[1:]:
        if _clearly_better(right[candidate], right[candidates[0]]) and top1[candidate] >= top1[chosen] + BLEND_MARGIN:
            chosen = candidate
    return chosen, top1


def _choose_blend(folds: list[tuple[tuple, np.ndarray]], weights: tuple[float, ...]) -> tuple[tuple, dict, dict]:
    """The blend (with the preferred answer weight), then the answer weight (with that blend): (scale, neighbour
    weight, answer weight) and the held-out top-1 of each blend and of each answer weight."""
    (scale, weight, _), blends = _choose(folds, [(scale, weight, weights[0]) for scale, weight in BLENDS])
    chosen, answered = _choose(folds, [(scale, weight, answer_weight) for answer_weight in weights])
    return (chosen, {f"{s:g}/{w:g}": round(share, 4) for (s, w, _), share in blends.items()},
            {f"{a:g}": round(share, 4) for (_, _, a), share in answered.items()})


def _clearly_better(candidate: np.ndarray, current: np.ndarray) -> bool:
    """McNemar's test, one-sided at ~2.5%: of the questions the two rank differently, the candidate must get
    right more than half by two standard deviations."""
    wins, losses = int((candidate & ~current).sum()), int((~candidate & current).sum())
    return wins - losses >= max(BLEND_MARGIN * len(candidate), 2 * np.sqrt(wins + losses))


def calibrate(vectors: np.ndarray, labels: np.ndarray, off_topic: np.ndarray, seed: int = 0,
              answers: Answers | None = None, answer_weight: float = 0.0) -> Calibrated | None:
    """Thresholds for a knowledge base whose FAQ texts have unit embeddings `vectors` and FAQ entry ids
    `labels`; `off_topic`: embeddings of `off_topic_questions()`; `answers`: its answers' embeddings, searched
    with at most `answer_weight`. None when there is too little to learn from."""
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
                      vectors[test], answers), labels[test]) for train, test in splits if test.any()]
    chosen, blend_top1, answer_top1 = _choose_blend(folds, answer_weights(answer_weight if answers else 0.0))
    faq_fold = rng.permutation(len(faqs)) % min(FOLDS, len(faqs))
    uncovered = []
    for k in np.unique(faq_fold):
        held = np.isin(labels, faqs[faq_fold == k])
        classifier = FaqClassifier.train(vectors[~held], labels[~held])
        uncovered.append(_best(_scores(vectors[~held], labels[~held], classifier, vectors[held], answers),
                               *chosen)[1])
    off = (_best(_scores(vectors, labels, FaqClassifier.train(vectors, labels), off_topic, answers), *chosen)[1]
           if len(off_topic) else np.zeros(0))
    return _thresholds(folds, chosen, (blend_top1, answer_top1), np.concatenate(uncovered), off, len(faqs),
                       len(labels), "cross-validation", started)


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
    chosen, blend_top1, answer_top1 = _choose_blend(answerable, answer_weights(0.0))  # made without answers
    for fold, classifier in trained:
        for sample, into in ((fold.uncovered, uncovered), (fold.off_topic, off)):
            if len(sample):
                into.append(_best(_scores(fold.vectors, fold.labels, classifier, sample), *chosen)[1])
    return _thresholds(answerable, chosen, (blend_top1, answer_top1),
                       np.concatenate(uncovered) if uncovered else np.zeros(0),
                       np.concatenate(off) if off else np.zeros(0), faqs, questions, "held-out model", started)


def _thresholds(folds: list[tuple[tuple, np.ndarray]], chosen: tuple[float, float, float],
                top1: tuple[dict, dict], uncovered: np.ndarray, off: np.ndarray, faqs: int, questions: int,
                method: str, started: float) -> Calibrated:
    """The generate and faq thresholds from the held-out answerable questions (`folds`), the uncovered and
    the off-topic ones, all ranked with the `chosen` blend and answer weight; `top1`: the held-out top-1 of
    each blend and of each answer weight tried."""
    scale, weight, answer_weight = chosen
    right, answerable = [], []
    for scores, truth in folds:
        best, score = _best(scores, *chosen)
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
        answer_top1=top1[1],
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
