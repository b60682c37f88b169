"""Which FAQ a question is about, learned from the knowledge base's own questions.

Each FAQ's question and alternative questions are labelled examples of that FAQ. A multinomial logistic
regression over their embeddings (scikit-learn, L2, C=10) learns which directions of the embedding space
tell one FAQ from the others, where nearest-neighbour cosine only sees the single closest text. Measured on
five knowledge bases nobody here tuned on (docs/knowledge.md), adding its probability to the cosine raised
top-1 on every one of them (Banking77-OOS valid 0.855 → 0.893, HWU64 0.849 → 0.917) and it is the
ingredient that lets the decision thresholds tell in-domain questions the knowledge base does not cover
from ones it does (docs/thresholds.md).

It also keeps the questions' embeddings for a **nearest-neighbour vote**: the `NEIGHBOURS` questions
closest to the query each vote for their FAQ with weight exp((cosine - 1) / `NEIGHBOUR_TEMPERATURE`).
What the knowledge base is given as its "probability" of an FAQ is the blend

    scale · ((1 - neighbour_weight) · p_logistic + neighbour_weight · vote)

and `neighbour_weight` and `scale` are not fixed: the self-calibration (`retrieval.self_calibration`)
tries a few blends on the knowledge base's own held-out alternative questions and keeps the one that ranks
them best. The vote helps where an FAQ's phrasings form several clusters (Banking77-OOS valid hybrid top-1
0.894 → 0.909 at 0.5) and costs where the logistic regression generalises better (HWU64's own held-out
questions 0.908 → 0.888 at 0.5); the held-out choice picked the better blend on every dataset measured
(docs/knowledge.md). `scale` 0 is
"cosine alone": a knowledge base whose few, terse alternative questions teach the classifier less than
they mislead it ranks on cosine, so hybrid never loses to dense on its own questions.

Training takes ~3 s for 6,000 questions of 50 FAQs on 2 cores; it runs in the background after knowledge
changes, and the answer path keeps using the previous model until the new one is ready. Scoring is one
matrix product and a softmax, plus one product with the questions' embeddings for the vote (no
scikit-learn call per query).
"""

from dataclasses import dataclass, replace

import numpy as np

C = 10.0  # inverse L2 strength: chosen on Banking77-OOS valid among 1, 3, 10, 30, 100 (flat from 3 to 30)
MAX_FAQS = 1000  # above this a fit takes minutes on a CPU; search then ranks on cosine alone
MAX_ITERATIONS = 100
TOLERANCE = 1e-3  # converges in ~25 iterations; the ranking is the same as at 1e-4
NEIGHBOURS = 10  # chosen on Banking77-OOS valid among 5, 10, 20, 40 (flat from 10 to 20)
NEIGHBOUR_TEMPERATURE = 0.05  # among 0.02, 0.05, 0.1
MAX_NEIGHBOUR_TEXTS = 20_000  # above this the vote's memory (30 MB) and product per query cost too much


@dataclass(frozen=True)
class FaqClassifier:
    entries: np.ndarray  # int64 entry id of each class
    weights: np.ndarray  # (classes, dimension) float32
    bias: np.ndarray  # (classes,) float32
    texts: np.ndarray | None = None  # (questions, dimension) float32: the unit embeddings it learned from
    text_classes: np.ndarray | None = None  # (questions,) int32: the class (row of `entries`) of each
    neighbour_weight: float = 0.0
    scale: float = 1.0

    @classmethod
    def train(cls, vectors: np.ndarray, labels: np.ndarray) -> "FaqClassifier | None":
        """`vectors`: unit embeddings of questions; `labels`: the FAQ entry of each. None when it cannot
        learn anything (fewer than two FAQs) or the knowledge base is too large for a quick fit."""
        classes = np.unique(labels)
        if len(classes) < 2 or len(classes) > MAX_FAQS:
            return None
        from sklearn.linear_model import LogisticRegression  # a second's import; only where training runs

        model = LogisticRegression(C=C, max_iter=MAX_ITERATIONS, tol=TOLERANCE)
        model.fit(vectors, labels)
        weights, bias = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
        if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes: make it a softmax
            weights = np.vstack([-weights / 2, weights / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
        texts = classes_of = None
        if len(labels) <= MAX_NEIGHBOUR_TEXTS:
            texts = np.ascontiguousarray(vectors, dtype=np.float32)
            classes_of = np.searchsorted(model.classes_, labels).astype(np.int32)
        return cls(model.classes_.astype(np.int64), weights, bias, texts, classes_of)

    def blended(self, neighbour_weight: float, scale: float = 1.0) -> "FaqClassifier":
        """The same model with another blend (what the self-calibration chose for this knowledge base)."""
        if self.texts is None:
            neighbour_weight = 0.0
        return replace(self, neighbour_weight=float(neighbour_weight), scale=float(scale))

    def __len__(self) -> int:
        return len(self.entries)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(queries, classes) blended probabilities, columns in the order of `entries`."""
        vectors = np.atleast_2d(vectors).astype(np.float32)
        vote = self.vote(vectors) if self.neighbour_weight > 0 else None
        return blend(self.logistic(vectors), vote, self.neighbour_weight, self.scale)

    def logistic(self, vectors: np.ndarray) -> np.ndarray:
        """(queries, classes): the logistic regression's probabilities alone."""
        logits = np.atleast_2d(vectors).astype(np.float32) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def vote(self, vectors: np.ndarray) -> np.ndarray:
        """(queries, classes): each query's `NEIGHBOURS` nearest questions vote for their FAQ."""
        similarity = vectors @ self.texts.T
        k = min(NEIGHBOURS, similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        rows = np.arange(len(vectors))[:, None]
        weight = np.exp((similarity[rows, nearest] - 1.0) / NEIGHBOUR_TEMPERATURE)
        vote = np.zeros((len(vectors), len(self.entries)), dtype=np.float32)
        np.add.at(vote, (np.broadcast_to(rows, nearest.shape), self.text_classes[nearest]), weight)
        return vote / np.maximum(vote.sum(axis=1, keepdims=True), 1e-30)

    def top(self, vector: np.ndarray, k: int) -> dict[int, float]:
        """The `k` most probable FAQ entries of one query and their probabilities."""
        p = self.probabilities(vector)[0]
        best = np.argsort(-p)[:k]
        return {int(self.entries[i]): float(p[i]) for i in best}

    def probability_of(self, vector: np.ndarray, within: set[int] | None = None) -> dict[int, float]:
        """p(FAQ | query) of each FAQ; with `within`, of those FAQs only, each part of the blend renormalised
        over them (a question answered from its own language's FAQs: retrieval/lexical.py `same_language`)."""
        if within is None:
            p = self.probabilities(vector)[0]
            return dict(zip(self.entries.tolist(), p.tolist()))
        vectors = np.atleast_2d(vector).astype(np.float32)
        mask = np.isin(self.entries, np.fromiter(within, dtype=np.int64, count=len(within)))[None, :]
        vote = self.vote(vectors) if self.neighbour_weight > 0 else None
        p = blend(*restricted(self.logistic(vectors), vote, mask), self.neighbour_weight, self.scale)[0]
        return {entry: probability for entry, probability, kept in zip(self.entries.tolist(), p.tolist(), mask[0])
                if kept}


def restricted(logistic: np.ndarray, vote: np.ndarray | None, mask: np.ndarray) -> tuple:
    """The classifier's parts over the FAQs `mask` keeps (per query row), each renormalised to sum to 1."""
    def renormalised(part: np.ndarray) -> np.ndarray:
        kept = np.where(mask, part, 0.0)
        return kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-30)
    return renormalised(logistic), (renormalised(vote) if vote is not None else None)


def blend(logistic: np.ndarray, vote: np.ndarray | None, neighbour_weight: float, scale: float) -> np.ndarray:
    """scale · ((1 - neighbour_weight) · logistic + neighbour_weight · vote); no vote counts as weight 0."""
    if vote is None or neighbour_weight == 0:
        return scale * logistic
    return scale * ((1 - neighbour_weight) * logistic + neighbour_weight * vote)
