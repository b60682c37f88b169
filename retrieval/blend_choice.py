"""The blend of the FAQ classifier and the weight of the answers' cosine that rank held-out questions best.

The rule is explained in retrieval/self_calibration.py; `retrieval.tuned_calibration` chooses the same way.
"""

import numpy as np

from core.language_detection import family
from retrieval.classifier import FaqClassifier, blend, restricted
from retrieval.hybrid import CLASSIFIER_MIN_COSINE

# (scale, neighbour weight) blends of the classifier tried on the held-out questions, in order of preference
# when they rank equally well: the logistic regression alone first, cosine alone (scale 0) last. Another
# blend must beat the first significantly (`_clearly_better`)...
BLENDS = ((1.0, 0.0), (1.0, 0.25), (1.0, 0.5), (1.0, 0.75), (0.0, 0.0))
BLEND_MARGIN = 0.002  # and a blend must rank this much more of them right to replace an earlier one

Answers = dict[int, np.ndarray]  # FAQ label -> unit embedding of its answer


def answer_weights(configured: float) -> tuple[float, ...]:
    """The answer weights tried, in order of preference (the same rule as the blends): the configured one, half,
    none, then two and three times it."""
    return (configured, configured / 2, 0.0, 2 * configured, 3 * configured) if configured > 0 else (0.0,)


def lexical_weights(configured: float) -> tuple[float, ...]:
    """The BM25 weights tried, in order of preference: the configured one, then 2.5, 5 and 10 times it (0.2: 0.2,
    0.5, 1, 2): more where the embedder does not read the knowledge base's language (MiniLM over Chinese: BM25
    top-1 0.61, hybrid 0.48). None is not tried: the held-out alternative questions chose it on the sample shops
    with multilingual-e5, whose eval questions then ranked worse (docs/thresholds.md)."""
    return (configured, 2.5 * configured, 5 * configured, 10 * configured) if configured > 0 else (0.0,)


def faq_scores(train_vectors: np.ndarray, train_labels: np.ndarray, classifier: FaqClassifier | None,
               queries: np.ndarray, answers: Answers | None = None) -> tuple:
    """(labels, cosine, logistic, vote, answer, lexical): per query and FAQ label, the best cosine, the
    classifier's parts, the cosine with the FAQ's answer (None where there is none) and BM25 scaled to [0, 1]
    per query (None until `with_lexical` adds it)."""
    order = np.argsort(train_labels, kind="stable")
    labels, starts = np.unique(train_labels[order], return_index=True)
    cosine = np.maximum.reduceat(queries @ train_vectors[order].T, starts, axis=1)
    answer = queries @ np.stack([answers[label] for label in labels.tolist()]).T if answers else None
    if classifier is None:
        return labels, cosine, None, None, answer, None
    columns = [{entry: i for i, entry in enumerate(classifier.entries.tolist())}[label] for label in labels.tolist()]
    vote = classifier.vote(queries)[:, columns] if classifier.texts is not None else None
    return labels, cosine, classifier.logistic(queries)[:, columns], vote, answer, None


def with_lexical(scores: tuple, rows: np.ndarray, lexical: np.ndarray) -> tuple:
    """`scores` of the queries `rows` only, with `lexical` (those queries × the same labels) as their BM25."""
    labels, cosine, logistic, vote, answer, _ = scores
    return (labels, cosine[rows], None if logistic is None else logistic[rows], None if vote is None else vote[rows],
            None if answer is None else answer[rows], lexical)


def within_language(scores: tuple, query_languages: list, language_of: dict) -> tuple:
    """`scores` (as faq_scores gives them) with each query's FAQs limited to those of its language, kin or
    unclear ones, the classifier's parts renormalised over them: what live search does in a knowledge base of
    several languages searched with an embedder that does not compare across them (retrieval/knowledge_base.py
    `candidates`). A query of unclear language keeps every FAQ. BM25 comes after this (`with_lexical`); the
    calibration keeps the restriction there (self_calibration's `_with_lexical`)."""
    labels, cosine, logistic, vote, answer, lexical = scores
    rows = np.array([family(code) if code else "" for code in query_languages], dtype=object)[:, None]
    columns = np.array([family(code) if (code := language_of.get(label)) else "" for label in labels.tolist()],
                       dtype=object)[None, :]
    own = (rows == columns) | (rows == "") | (columns == "")  # "": of unclear language, kept everywhere
    logistic, vote = restricted(logistic, vote, own) if logistic is not None else (None, None)
    return (labels, np.where(own, cosine, -2.0), logistic, vote,
            np.where(own, answer, -2.0) if answer is not None else None, lexical)


def best_faq(scores: tuple, scale: float, weight: float, answer_weight: float = 0.0,
             lexical_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(best FAQ label, confidence) of each query under one blend, answer weight and BM25 weight, ranked as live
    search ranks FAQs; the confidence leaves the answer and BM25 out, as live search does. Without BM25 scores
    (`with_lexical`) the ranking has no BM25 term."""
    labels, cosine, logistic, vote, answer, lexical = scores
    if logistic is not None and scale > 0:
        cosine = cosine + np.where(cosine >= CLASSIFIER_MIN_COSINE, blend(logistic, vote, weight, scale), 0.0)
    ranking = cosine + answer_weight * answer if answer is not None and answer_weight > 0 else cosine
    if lexical is not None and lexical_weight > 0:
        ranking = ranking + lexical_weight * lexical
    best = ranking.argmax(axis=1)
    return labels[best], cosine[np.arange(len(cosine)), best]


def choose_blend(folds: list[tuple[tuple, np.ndarray]], weights: tuple[float, ...]) -> tuple[tuple, dict, dict]:
    """The blend (with the preferred answer weight), then the answer weight (with that blend): (scale, neighbour
    weight, answer weight) and the held-out top-1 of each blend and of each answer weight."""
    (scale, weight, _), blends = _choose(folds, [(scale, weight, weights[0]) for scale, weight in BLENDS])
    chosen, answered = _choose(folds, [(scale, weight, answer_weight) for answer_weight in weights])
    return (chosen, {f"{s:g}/{w:g}": round(share, 4) for (s, w, _), share in blends.items()},
            {f"{a:g}": round(share, 4) for (_, _, a), share in answered.items()})


def choose_lexical(folds: list[tuple[tuple, np.ndarray]], chosen: tuple,
                   weights: tuple[float, ...]) -> tuple[tuple, dict]:
    """The BM25 weight that ranks the held-out questions best with the `chosen` blend and answer weight (the same
    rule): (scale, neighbour weight, answer weight, BM25 weight) and the held-out top-1 of each weight tried."""
    best, top1 = _choose(folds, [(*chosen[:3], lexical_weight) for lexical_weight in weights])
    return best, {f"{c[3]:g}": round(share, 4) for c, share in top1.items()}


def _choose(folds: list[tuple[tuple, np.ndarray]], candidates: list[tuple]) -> tuple[tuple, dict]:
    """The candidate (scale, neighbour weight, answer weight) that ranks most held-out questions right; `folds`:
    (scores, true labels) per fold. The first stays unless another is clearly better than it
    (`_clearly_better`: significantly more questions won than lost), so that 132 held-out questions do not
    switch a knowledge base to cosine alone because one of them went the other way; among those, an earlier
    one stays unless a later one ranks `BLEND_MARGIN` more of the questions right."""
    right = {c: np.concatenate([best_faq(scores, *c)[0] == truth for scores, truth in folds]) for c in candidates}
    top1 = {candidate: float(hits.mean()) for candidate, hits in right.items()}
    chosen = candidates[0]
    for candidate in candidates[1:]:
        if _clearly_better(right[candidate], right[candidates[0]]) and top1[candidate] >= top1[chosen] + BLEND_MARGIN:
            chosen = candidate
    return chosen, top1


def _clearly_better(candidate: np.ndarray, current: np.ndarray) -> bool:
    """McNemar's test, one-sided at ~2.5%: of the questions the two rank differently, the candidate must get
    right more than half by two standard deviations."""
    wins, losses = int((candidate & ~current).sum()), int((~candidate & current).sum())
    return wins - losses >= max(BLEND_MARGIN * len(candidate), 2 * np.sqrt(wins + losses))
