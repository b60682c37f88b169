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
weight, half of it, none, two or three times it; retrieval/hybrid.py), both in retrieval/blend_choice.py; last,
given the FAQ texts, how much BM25 adds (`lexical_weights`: the configured weight, or 2.5 to 10 times it;
each held-out question searched in a BM25 index of its fold, retrieval/fold_lexical.py). Each keeps the
configured value unless another ranks the held-out questions clearly better. A knowledge base too
small to hold questions out (plain questions, no alternatives) is not calibrated and ranks with the
configured weight. From the three score samples, with that blend and answer weight
(retrieval/calibrated_thresholds.py):
- **generate threshold** (answer at all, else the fallback): keeps `KEEP_ANSWERABLE` of the answerable
  questions that were ranked right, raised until it rejects `REJECT_OFF_TOPIC` of the off-topic ones, but
  never so far that it keeps fewer than `KEEP_AT_LEAST` of them (a knowledge base about alarms or recipes
  answers some "off-topic" questions, and must not be gagged by them);
- **faq threshold** (the curated answer verbatim): the lowest confidence at which the held-out answerable
  questions are ranked right at least `VERBATIM_PRECISION` of the time.
Both were chosen on Banking77-OOS valid and the sample shop, then checked on Banking77-OOS test, HWU64 and
Bitext (docs/thresholds.md).

An embedder fine-tuned on the knowledge base's own questions is calibrated on held-out copies of it instead
(retrieval/tuned_calibration.py).
"""

import time
from importlib import resources

import numpy as np

from retrieval.blend_choice import (Answers, answer_weights, best_faq, choose_blend, choose_lexical, faq_scores,
                                    lexical_weights, with_lexical, within_language)
from retrieval.calibrated_thresholds import MIN_HELD_OUT, Calibrated, thresholds
from retrieval.classifier import FaqClassifier
from retrieval.fold_lexical import SAMPLE, fold_lexical, sampled

FOLDS = 5


def calibratable(labels: np.ndarray) -> bool:
    """Whether the FAQ texts `labels` hold enough to calibrate on: three FAQs, and `MIN_HELD_OUT` questions that can
    be held out (every text of an FAQ with two or more: each is held out in one fold, the FAQ's others kept)."""
    _, counts = np.unique(labels, return_counts=True)
    return len(counts) >= 3 and int(counts[counts >= 2].sum()) >= MIN_HELD_OUT


def off_topic_questions() -> list[str]:
    text = resources.files("retrieval").joinpath("off_topic.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def calibrate(vectors: np.ndarray, labels: np.ndarray, off_topic: np.ndarray, seed: int = 0,
              answers: Answers | None = None, answer_weight: float = 0.0,
              languages: list[str | None] | None = None, texts: list[str] | None = None,
              lexical_weight: float = 0.0) -> Calibrated | None:
    """Thresholds for a knowledge base whose FAQ texts have unit embeddings `vectors` and FAQ entry ids
    `labels`; `off_topic`: embeddings of `off_topic_questions()`; `answers`: its answers' embeddings, searched
    with at most `answer_weight`; `languages`: each text's FAQ's language, for a knowledge base of several
    (a held-out question is then ranked among its own language's FAQs, as live search ranks it first); `texts`:
    each vector's text, for choosing the BM25 weight among `lexical_weights(lexical_weight)` (without them the
    configured weight stays). None when there is too little to learn from."""
    started = time.perf_counter()
    faqs = np.unique(labels)
    if not calibratable(labels):
        return None
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    for faq in faqs:
        rows = np.flatnonzero(labels == faq)
        fold[rows] = rng.permutation(len(rows)) % FOLDS
    # (an FAQ with one text is never held out from itself; `calibratable` counted the rest)
    splits = [(fold != k, (fold == k) & np.isin(labels, labels[fold != k])) for k in range(FOLDS)]
    language_of = dict(zip(labels.tolist(), languages)) if languages is not None else {}

    def scored(train: np.ndarray, test: np.ndarray) -> tuple:
        scores = faq_scores(vectors[train], labels[train], FaqClassifier.train(vectors[train], labels[train]),
                            vectors[test], answers)
        if languages is None:
            return scores
        return within_language(scores, [languages[i] for i in np.flatnonzero(test)], language_of)
    splits = [(train, test) for train, test in splits if test.any()]
    folds = [(scored(train, test), labels[test]) for train, test in splits]
    chosen, blend_top1, answer_top1 = choose_blend(folds, answer_weights(answer_weight if answers else 0.0))
    chosen, lexical_top1 = (*chosen, lexical_weight), {}
    if texts is not None and lexical_weight > 0:
        with_bm25 = _with_lexical(folds, splits, texts, labels, np.random.default_rng(seed + 1))
        best, lexical_top1 = choose_lexical(with_bm25, chosen, lexical_weights(lexical_weight))
        if best[3] != lexical_weight:  # ranked with BM25 from here on; else the thresholds are set as before
            folds, chosen = with_bm25, best
    faq_fold = rng.permutation(len(faqs)) % min(FOLDS, len(faqs))
    uncovered = []
    for k in np.unique(faq_fold):
        held = np.isin(labels, faqs[faq_fold == k])
        uncovered.append(best_faq(scored(~held, held), *chosen)[1])
    off = (best_faq(faq_scores(vectors, labels, FaqClassifier.train(vectors, labels), off_topic, answers),
                    *chosen)[1] if len(off_topic) else np.zeros(0))
    return thresholds(folds, chosen, (blend_top1, answer_top1, lexical_top1), np.concatenate(uncovered), off,
                      len(faqs), len(labels), "cross-validation", started)


def _with_lexical(folds: list[tuple[tuple, np.ndarray]], splits: list[tuple[np.ndarray, np.ndarray]],
                  texts: list[str], labels: np.ndarray, rng: np.random.Generator) -> list[tuple[tuple, np.ndarray]]:
    """The folds with the BM25 of (a sample of at most `SAMPLE` of) their held-out questions. Questions ranked
    among their own language's FAQs (`within_language`: the others' cosine is -2) keep that restriction.

    The uncovered and off-topic questions are still ranked without BM25, as before: it would only change which
    FAQ their confidence is read from (without an answer weight, to one of lower confidence)."""
    share = min(1.0, SAMPLE / sum(int(test.sum()) for _, test in splits))
    result = []
    for (train, test), (scores, truth) in zip(splits, folds):
        keep = sampled(np.arange(int(test.sum())), share, rng)
        lexical = fold_lexical(texts, labels, train, np.flatnonzero(test)[keep], scores[0])
        result.append((with_lexical(scores, keep, np.where(scores[1][keep] > -2.0, lexical, 0.0)), truth[keep]))
    return result
