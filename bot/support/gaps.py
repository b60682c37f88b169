"""Knowledge gaps: what customers asked that the bot could not answer well, grouped by meaning.

A *signal* is a customer question whose bot reply was a fallback, got a thumbs-down, or was the handoff to
a person. Signals are embedded with the knowledge base's embedder and clustered (average-linkage
agglomerative clustering on cosine distance); each cluster is a gap, ranked by how many customers asked.
A gap is closed once an FAQ answers it: for at least half of its questions the best hit today is an FAQ
scoring at or above the FAQ threshold (so chat answers it verbatim); for a question that got a thumbs-down
that FAQ must also have been created or edited after the question, since the answer it had was judged bad.
Definitions repeated in docs/analytics.md.
"""

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sqlalchemy.orm import sessionmaker

from bot.support.gap_signals import Signal, collect_signals
from core.database import as_utc
from dialogue.policy import Thresholds
from retrieval.errors import FaqNotFound
from retrieval.knowledge_base import KnowledgeBase

CLUSTER_DISTANCE = 0.5  # cosine distance under which questions count as the same need (MiniLM: paraphrases
# scored 0.53-0.89 here, unrelated questions at most 0.24)
EXAMPLES = 10
_CACHE_LIMIT = 20_000


@dataclass(frozen=True)
class ChosenFaq:
    faq_id: int
    faq_question: str
    questions: list[str]  # distinct, newest first


@dataclass(frozen=True)
class Gap:
    id: int  # the id of its oldest question's turn: stable while that question stays in the group
    count: int  # customers who asked
    messages: int
    questions: list[str]  # distinct, newest first
    reasons: dict[str, int]
    first_asked: datetime
    last_asked: datetime
    status: str  # open | closed
    answered_questions: int
    answered_by: list[int]  # FAQ ids that answer its questions today
    # The FAQs customers chose from the fallback's suggestions, each with the questions they had asked: what to
    # add to that FAQ as alternative questions, so that the next customer gets it at once.
    chosen: list[ChosenFaq] = field(default_factory=list)


class GapFinder:
    """Holds the question embeddings between requests, so a refresh embeds only new questions."""

    def __init__(self, sessions: sessionmaker, knowledge: KnowledgeBase):
        self.sessions = sessions
        self.knowledge = knowledge
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def gaps(self, since: datetime, until: datetime, thresholds: Thresholds, channel: str | None = None) -> list[Gap]:
        signals = collect_signals(self.sessions, since, until, channel)
        if not signals:
            return []
        vectors = self._embed([signal.search_text for signal in signals])
        groups = cluster(vectors)
        gaps = [self._gap([signals[i] for i in members], vectors[members], thresholds) for members in groups]
        return sorted(gaps, key=lambda gap: (-gap.count, -gap.messages, -gap.last_asked.timestamp()))

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(text for text in texts if text not in self._vectors))
            if len(self._vectors) + len(missing) > _CACHE_LIMIT:
                self._vectors.clear()
                missing = list(dict.fromkeys(texts))
            for text, vector in zip(missing, self.knowledge.embedder.embed(missing)):
                self._vectors[text] = vector
            return np.stack([self._vectors[text] for text in texts])

    def _gap(self, signals: list[Signal], vectors: np.ndarray, thresholds: Thresholds) -> Gap:
        answered_by = []
        for signal, vector in zip(signals, vectors):
            hits = self.knowledge.search_vector(vector, signal.search_text, top_k=1)
            if hits and hits[0].faq is not None and hits[0].confidence >= thresholds.faq and (
                    "thumbs_down" not in signal.reasons or as_utc(hits[0].faq.updated_at) > signal.asked_at):
                answered_by.append(hits[0].faq.id)
        newest_first = sorted(signals, key=lambda signal: signal.asked_at, reverse=True)
        reasons = Counter(reason for signal in signals for reason in signal.reasons)
        chosen: dict[int, list[str]] = {}
        for signal in newest_first:
            if signal.chosen is not None and signal.question not in chosen.setdefault(signal.chosen, []):
                chosen[signal.chosen].append(signal.question)
        return Gap(
            id=min(signal.turn_id for signal in signals),
            count=len({signal.customer_id for signal in signals}), messages=len(signals),
            questions=list(dict.fromkeys(signal.question for signal in newest_first))[:EXAMPLES],
            reasons={name: reasons.get(name, 0) for name in ("fallback", "thumbs_down", "handoff")},
            first_asked=newest_first[-1].asked_at, last_asked=newest_first[0].asked_at,
            status="closed" if 2 * len(answered_by) >= len(signals) else "open",
            answered_questions=len(answered_by), answered_by=sorted(set(answered_by)),
            chosen=self._chosen(chosen),
        )

    def _chosen(self, chosen: dict[int, list[str]]) -> list[ChosenFaq]:
        """The FAQs chosen, most questions first; one deleted since is left out."""
        found = []
        for faq_id, questions in sorted(chosen.items(), key=lambda item: -len(item[1])):
            try:
                found.append(ChosenFaq(faq_id, self.knowledge.get(faq_id).question, questions))
            except FaqNotFound:
                continue
        return found


def cluster(vectors: np.ndarray) -> list[list[int]]:
    """Indexes of `vectors` grouped by meaning, each group in input order."""
    if len(vectors) == 1:
        return [[0]]
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=CLUSTER_DISTANCE).fit_predict(vectors)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return list(groups.values())
