"""Questions asked across languages, ranked as if they were in the knowledge base's language.

A multilingual encoder (multilingual-e5) places a text by its language as well as by its meaning: every German
question sits a little to one side of its English twin, in about the same direction. So an English knowledge
base asked in German ranks the German question's neighbours partly by how German-like the English texts are.
Moving the question by the difference between where this deployment's questions in that language sit (their
mean vector) and where the knowledge base's texts sit (theirs) takes most of that out. Measured on the HWU64
subset asked in seven languages (docs/languages.md, "Questions across languages"): hybrid top-1 +0 to +9
points on the valid split, -1 to +7 on the test split; the English sample shop asked in German +1, in Chinese +5.

Only the ranking moves. Each hit's cosine and classifier probability, the confidence the thresholds were
calibrated on (retrieval/hybrid.py), stay those of the question as asked: the moved vector sits closer to
every text of the knowledge base, so its confidences would be higher across the board and the calibrated
thresholds would let more wrong answers through (+3 to +9 wrong per 100 when measured).

The means come from the questions this knowledge base is asked (customers' messages, `POST /admin/search`),
one running mean per language and embedder in the database, so every process shares them and a restart keeps
them. A language is moved once `MIN_QUESTIONS` of its questions were seen; past `WINDOW` questions the mean
is exponential (a question `WINDOW` questions old weighs e^-1), so it follows what customers ask now. A
question is counted and moved only when the detector is sure of its language and (almost) no entry of the
knowledge base is in it (retrieval/lexical.py `foreign_language`).
"""

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime

import numpy as np
from sqlalchemy import DateTime, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core.database import Base, utcnow
from retrieval.classifier import FaqClassifier
from retrieval.entries import ACTION_BIT, FAQ_BIT
from retrieval.hybrid import CLASSIFIER_MIN_COSINE, Candidate

log = logging.getLogger(__name__)

MIN_QUESTIONS = 30
WINDOW = 1000
_FLUSH_EVERY = 10  # questions kept in this process before they are added to the database's mean
_FLUSH_SECONDS = 30.0
_READ_SECONDS = 30.0  # how stale another process's questions may be here
_KNOWLEDGE_SAMPLE = 5000  # entries the knowledge base's mean is taken over


class LanguageTrafficRecord(Base):
    __tablename__ = "language_traffic"
    __table_args__ = (UniqueConstraint("model_id", "language", name="uq_language_traffic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    questions: Mapped[int] = mapped_column(Integer, default=0)  # counted in the mean, at most WINDOW
    vector_sum: Mapped[bytes] = mapped_column(LargeBinary)  # float32, the mean times `questions`
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class LanguageTraffic:
    """The running mean of the questions asked in each language, for one embedder."""

    def __init__(self, sessions: sessionmaker, model_id: str) -> None:
        self.sessions = sessions
        self.model_id = model_id
        self._lock = threading.Lock()
        self._stored: dict[str, tuple[int, np.ndarray]] = {}  # the database's, as last read
        self._pending: dict[str, tuple[int, np.ndarray]] = {}  # this process's, not yet written
        self._read_at = -_READ_SECONDS
        self._flushed_at = time.monotonic()
        self._left_out: dict[str, tuple[str, np.ndarray]] = {}  # `replay`: text -> its language and vector

    def observe(self, language: str, vector: np.ndarray) -> None:
        if self._add(language, vector):
            self.flush()

    def replay(self, questions: list[tuple[str, str, np.ndarray]]) -> None:
        """Count (text, language, vector) as asked, and measure each of those texts later as if the others had
        been asked but not itself (an evaluation's leave-one-out: `mean(..., text=)`). One write for them all."""
        for text, language, vector in questions:
            self._add(language, vector)
            self._left_out[text] = (language, vector)
        self.flush()

    def mean(self, language: str, text: str | None = None) -> np.ndarray | None:
        """The mean vector of the questions seen in `language`, None below MIN_QUESTIONS. A `text` replayed by
        `replay` is left out of its own mean."""
        count, total = self._merged().get(language, (0, None))
        left = self._left_out.get(text) if text is not None else None
        if left is not None and left[0] == language:
            count, total = count - 1, total - left[1]
        return (total / count).astype(np.float32) if count >= MIN_QUESTIONS and total is not None else None

    def counts(self) -> dict[str, int]:
        """Questions counted per language (this process's unwritten ones included)."""
        return {language: count for language, (count, _) in self._merged().items()}

    def _add(self, language: str, vector: np.ndarray) -> bool:
        """Keep one question in this process; whether it is time to write them (every `_FLUSH_EVERY` questions or
        `_FLUSH_SECONDS`, and each one while the language has fewer than MIN_QUESTIONS stored)."""
        with self._lock:
            count, total = self._pending.get(language, (0, 0.0))
            self._pending[language] = (count + 1, total + vector.astype(np.float64))
            return (sum(n for n, _ in self._pending.values()) >= _FLUSH_EVERY
                    or time.monotonic() - self._flushed_at >= _FLUSH_SECONDS
                    or self._stored.get(language, (0, None))[0] < MIN_QUESTIONS)

    def _merged(self) -> dict[str, tuple[int, np.ndarray]]:
        """The database's counts and sums (as last read) with this process's unwritten ones added."""
        self._read_if_stale()
        with self._lock:
            merged = dict(self._stored)
            for language, (count, total) in self._pending.items():
                stored_count, stored_total = merged.get(language, (0, 0.0))
                merged[language] = (stored_count + count, stored_total + total)
        return merged

    def flush(self) -> None:
        """Add this process's questions to the database's means; kept for the next try if the write fails."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flushed_at = time.monotonic()
        if not pending:
            return
        try:
            self._write(pending)
        except Exception:  # noqa: BLE001 - a statistic: never fail a search over it
            log.exception("could not store the language means; kept in this process")
            with self._lock:
                for language, (count, total) in pending.items():
                    now = self._pending.get(language, (0, 0.0))
                    self._pending[language] = (now[0] + count, now[1] + total)
            return
        self._read()

    def _write(self, pending: dict[str, tuple[int, np.ndarray]]) -> None:
        for attempt in range(2):  # two processes may insert a language's first row at once
            try:
                with self.sessions.begin() as session:
                    for language, (count, total) in sorted(pending.items()):
                        record = session.scalars(
                            select(LanguageTrafficRecord).where(LanguageTrafficRecord.model_id == self.model_id,
                                                                LanguageTrafficRecord.language == language)
                            .with_for_update()).first()
                        if record is None:
                            record = LanguageTrafficRecord(model_id=self.model_id, language=language, questions=0,
                                                           vector_sum=np.zeros(len(total), np.float32).tobytes())
                            session.add(record)
                        stored = np.frombuffer(record.vector_sum, dtype=np.float32).astype(np.float64)
                        questions = record.questions
                        if len(stored) != len(total):  # written for another dimension: start again
                            stored, questions = np.zeros(len(total)), 0
                        if questions + count > WINDOW:  # exponential from here: older questions fade
                            keep = max(WINDOW - count, 0)
                            stored, questions = stored * (keep / questions if questions else 0.0), keep
                        record.questions = questions + count
                        record.vector_sum = (stored + total).astype(np.float32).tobytes()
                return
            except IntegrityError:
                if attempt:
                    raise

    def _read_if_stale(self) -> None:
        if time.monotonic() - self._read_at >= _READ_SECONDS:
            self._read()

    def _read(self) -> None:
        with self.sessions() as session:
            rows = session.execute(select(LanguageTrafficRecord.language, LanguageTrafficRecord.questions,
                                          LanguageTrafficRecord.vector_sum)
                                   .where(LanguageTrafficRecord.model_id == self.model_id)).all()
        stored = {language: (count, np.frombuffer(blob, dtype=np.float32).astype(np.float64))
                  for language, count, blob in rows if blob}
        with self._lock:
            self._stored, self._read_at = stored, time.monotonic()


def knowledge_mean(dense) -> np.ndarray | None:
    """Where the knowledge base's texts sit: the mean of its FAQ texts' vectors (what questions resemble), or of
    its passages' when it has no FAQ; over an even sample of at most `_KNOWLEDGE_SAMPLE` entries."""
    entries = sorted(entry for entry in dense.entries if not entry & ACTION_BIT)
    faqs = [entry for entry in entries if entry & FAQ_BIT]
    chosen = faqs or entries
    if not chosen:
        return None
    step = max(len(chosen) // _KNOWLEDGE_SAMPLE, 1)
    vectors, _ = dense.vectors_of(chosen[::step])
    return vectors.mean(axis=0) if len(vectors) else None


def shifted(vector: np.ndarray, language_mean: np.ndarray, knowledge: np.ndarray) -> np.ndarray:
    moved = vector + knowledge - language_mean
    norm = float(np.linalg.norm(moved))
    return (moved / norm).astype(np.float32) if norm > 0 else vector


def confidences_as_asked(candidates: list[Candidate], dense, vector: np.ndarray, classifier: FaqClassifier | None,
                         leads: dict[int, float | None] | None = None) -> list[Candidate]:
    """`candidates` as ranked for the shifted question, each with the cosine and classifier probability of the
    question as asked: the confidence the thresholds were calibrated on. Without a classifier, `leads` are the
    leads of the question as asked (retrieval/hybrid.py): an FAQ the move brought first, which did not lead as
    asked, is decided on its cosine."""
    cosines = dense.best_scores(vector, [candidate.entry for candidate in candidates])
    probabilities = classifier.probability_of(vector) if classifier is not None else {}
    rescored = []
    for candidate in candidates:
        match = cosines.get(candidate.entry)
        cosine = match.score if match is not None else candidate.dense
        probability = probabilities.get(candidate.entry, candidate.probability)
        if probability is not None and (cosine is None or cosine < CLASSIFIER_MIN_COSINE):
            probability = 0.0
        lead = None if leads is None or candidate.lead is None else (leads.get(candidate.entry) or 0.0)
        rescored.append(replace(candidate, dense=cosine, probability=probability, lead=lead))
    return rescored
