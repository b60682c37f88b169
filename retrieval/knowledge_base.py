"""FAQ CRUD kept in step with the FAISS index: every change is visible to the very next search."""

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from retrieval.embedder import Embedder
from retrieval.errors import FaqNotFound
from retrieval.faqs import Faq, FaqDraft, FaqRecord
from retrieval.index import FaqIndex
from retrieval.storage import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    faq: Faq
    score: float
    matched_text: str


@dataclass(frozen=True)
class UpsertReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class SyncReport:
    added: int
    removed: int
    unchanged: int


class KnowledgeBase:
    def __init__(self, sessions: sessionmaker, embedder: Embedder, index_dir: Path):
        self.sessions = sessions
        self.embedder = embedder
        self.index_dir = index_dir
        self.index: FaqIndex | None = None
        # Writes are rare; one at a time keeps the database and the index in the same order.
        self._write_lock = threading.Lock()

    # -- start-up -------------------------------------------------------------------------------------

    def sync_index(self) -> SyncReport:
        """Load the stored index and re-embed only the FAQs whose content changed since it was saved."""
        dimension, model_id = self.embedder.dimension, self.embedder.model_id
        index = FaqIndex.load(self.index_dir, dimension, model_id) or FaqIndex(dimension, model_id)
        with self.sessions() as session:
            current = {faq_id: digest for faq_id, digest in session.execute(
                select(FaqRecord.id, FaqRecord.content_hash))}
            stale = [faq_id for faq_id in index.faq_ids if current.get(faq_id) != index.content_hashes[faq_id]]
            missing = [faq_id for faq_id, digest in current.items() if index.content_hashes.get(faq_id) != digest]
            records = session.scalars(select(FaqRecord).where(FaqRecord.id.in_(missing))).all()
            faqs = [Faq.from_record(record) for record in records]
        for faq_id in stale:
            index.remove(faq_id)
        self._embed_into(index, faqs, {record.id: record.content_hash for record in records})
        if stale or faqs or not (self.index_dir / "faq.faiss").exists():
            index.save(self.index_dir)
        self.index = index
        report = SyncReport(added=len(faqs), removed=len(stale), unchanged=len(current) - len(faqs))
        log.info("FAQ index ready: %d FAQs, %d vectors (%s)", len(current), len(index), report)
        return report

    def _embed_into(self, index: FaqIndex, faqs: list[Faq], hashes: dict[int, str]) -> None:
        texts = [text for faq in faqs for text in faq.searchable_texts]
        vectors = self.embedder.embed(texts)
        start = 0
        for faq in faqs:
            count = len(faq.searchable_texts)
            index.upsert(faq.id, faq.searchable_texts, vectors[start : start + count], hashes[faq.id])
            start += count

    # -- reads ----------------------------------------------------------------------------------------

    def page(self, offset: int = 0, limit: int = 100) -> tuple[list[Faq], int]:
        with self.sessions() as session:
            count = session.scalar(select(func.count()).select_from(FaqRecord)) or 0
            records = session.scalars(select(FaqRecord).order_by(FaqRecord.id).offset(offset).limit(limit))
            return [Faq.from_record(record) for record in records], count

    def get(self, faq_id: int) -> Faq:
        with self.sessions() as session:
            record = session.get(FaqRecord, faq_id)
            if record is None:
                raise FaqNotFound(faq_id)
            return Faq.from_record(record)

    def search(self, query: str, top_k: int = 5, context: str | None = None,
               context_weight: float = 0.5) -> list[Hit]:
        """The best FAQs for `query`; a `context` (the previous query of a follow-up) is blended in."""
        if context:
            vectors = self.embedder.embed([query, context])
            vector = vectors[0] + context_weight * vectors[1]
            vector /= np.linalg.norm(vector)
        else:
            vector = self.embedder.embed([query])[0]
        matches = self._require_index().search(vector, top_k)
        with self.sessions() as session:
            records = {
                record.id: record
                for record in session.scalars(
                    select(FaqRecord).where(FaqRecord.id.in_([m.faq_id for m in matches]))
                )
            }
        # An FAQ deleted by another process may still be in this index for a moment: skip it.
        return [
            Hit(Faq.from_record(records[m.faq_id]), m.score, m.matched_text)
            for m in matches
            if m.faq_id in records
        ]

    # -- writes ---------------------------------------------------------------------------------------

    def create(self, draft: FaqDraft) -> Faq:
        vectors = self.embedder.embed(draft.searchable_texts)  # before any write: a failure leaves nothing
        with self._write_lock, self.sessions() as session:
            record = FaqRecord(
                question=draft.question,
                answer=draft.answer,
                alt_questions=draft.alt_questions,
                tags=draft.tags,
                content_hash=draft.content_hash,
            )
            session.add(record)
            session.commit()
            faq = Faq.from_record(record)
            self._index_changed(lambda index: index.upsert(faq.id, draft.searchable_texts, vectors,
                                                           draft.content_hash))
        return faq

    def create_many(self, drafts: list[FaqDraft]) -> list[Faq]:
        """Bulk insert in one transaction and one embedding pass (used by imports and the sample KB)."""
        texts = [text for draft in drafts for text in draft.searchable_texts]
        vectors = self.embedder.embed(texts)
        with self._write_lock, self.sessions() as session:
            records = [
                FaqRecord(question=d.question, answer=d.answer, alt_questions=d.alt_questions, tags=d.tags,
                          content_hash=d.content_hash)
                for d in drafts
            ]
            session.add_all(records)
            session.commit()
            faqs = [Faq.from_record(record) for record in records]

            def add_all(index: FaqIndex) -> None:
                start = 0
                for faq, draft in zip(faqs, drafts):
                    count = len(draft.searchable_texts)
                    index.upsert(faq.id, draft.searchable_texts, vectors[start : start + count],
                                 draft.content_hash)
                    start += count

            self._index_changed(add_all)
        return faqs

    def upsert_many(self, drafts: list[FaqDraft]) -> UpsertReport:
        """Import: an FAQ whose question already exists (ignoring case) is updated, others are created."""
        drafts = list({draft.question.casefold(): draft for draft in drafts}.values())  # last one wins
        with self.sessions() as session:
            existing = {question.casefold(): (faq_id, digest) for faq_id, question, digest in session.execute(
                select(FaqRecord.id, FaqRecord.question, FaqRecord.content_hash))}
        new, changed, unchanged = [], [], 0
        for draft in drafts:
            match = existing.get(draft.question.casefold())
            if match is None:
                new.append(draft)
            elif match[1] != draft.content_hash:
                changed.append((match[0], draft))
            else:
                unchanged += 1
        if new:
            self.create_many(new)
        for faq_id, draft in changed:
            self.update(faq_id, draft)
        return UpsertReport(created=len(new), updated=len(changed), unchanged=unchanged)

    def update(self, faq_id: int, draft: FaqDraft) -> Faq:
        vectors = self.embedder.embed(draft.searchable_texts)
        with self._write_lock, self.sessions() as session:
            record = session.get(FaqRecord, faq_id)
            if record is None:
                raise FaqNotFound(faq_id)
            if record.content_hash != draft.content_hash:
                record.question, record.answer = draft.question, draft.answer
                record.alt_questions, record.tags = draft.alt_questions, draft.tags
                record.content_hash = draft.content_hash
                record.version += 1
                record.updated_at = utcnow()
                session.commit()
            faq = Faq.from_record(record)
            self._index_changed(lambda index: index.upsert(faq_id, draft.searchable_texts, vectors,
                                                           draft.content_hash))
        return faq

    def delete(self, faq_id: int) -> None:
        with self._write_lock, self.sessions() as session:
            record = session.get(FaqRecord, faq_id)
            if record is None:
                raise FaqNotFound(faq_id)
            session.delete(record)
            session.commit()
            self._index_changed(lambda index: index.remove(faq_id))

    def _index_changed(self, change) -> None:
        index = self._require_index()
        change(index)
        index.save(self.index_dir)

    def _require_index(self) -> FaqIndex:
        if self.index is None:
            raise RuntimeError("KnowledgeBase.sync_index() must run before searching or editing")
        return self.index
