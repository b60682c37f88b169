"""Search hits: the FAQ, passage or declared action behind each ranked candidate, with its scores."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from retrieval.declared_actions.declarations import Action, ActionRecord
from retrieval.documents import ChunkRecord, DocumentRecord, Passage
from retrieval.entries import EntryKind, HitKind, ref
from retrieval.faqs import Faq, FaqRecord
from retrieval.hybrid import Candidate


@dataclass(frozen=True)
class Hit:
    """One search result: an FAQ, a document passage or a declared action (searched apart, `actions=True`).

    `score` is the cosine similarity of the query and the entry's best-matching text; `confidence` adds the
    FAQ classifier's probability (retrieval/hybrid.py): the number the faq/generate/fallback thresholds
    are calibrated on, whatever order the fusion put the hits in. A passage's confidence is its cosine.
    """

    faq: Faq | None
    score: float
    matched_text: str
    passage: Passage | None = None
    scores: Candidate | None = None
    confidence: float = 0.0
    action: Action | None = None

    @property
    def kind(self) -> "HitKind":
        if self.faq is not None:
            return HitKind.FAQ
        return HitKind.ACTION if self.action is not None else HitKind.DOCUMENT

    @property
    def id(self) -> int:
        return self.faq.id if self.faq is not None else self.action.id if self.action is not None else self.passage.id

    @property
    def title(self) -> str:
        if self.action is not None:
            return self.action.name
        return self.faq.question if self.faq is not None else self.passage.heading

    @property
    def text(self) -> str:
        """What a reply may quote: the FAQ's answer or the passage (an action's description)."""
        if self.action is not None:
            return self.action.description
        return self.faq.answer if self.faq is not None else self.passage.text

    @property
    def url(self) -> str | None:
        """The page or file to cite; None for FAQs."""
        return None if self.passage is None else self.passage.source


def hits_for(sessions: sessionmaker, candidates: list[Candidate]) -> list[Hit]:
    """The FAQs, passages and actions of the ranked `candidates`, in their order, read in one session."""
    refs = [ref(candidate.entry) for candidate in candidates]
    faq_ids = [r.id for r in refs if r.kind == EntryKind.FAQ]
    chunk_ids = [r.id for r in refs if r.kind == EntryKind.CHUNK]
    faqs, passages, actions = {}, {}, {}
    action_ids = [r.id for r in refs if r.kind == EntryKind.ACTION]
    with sessions() as session:  # one query per kind that was hit, none for a kind that was not
        if action_ids:
            actions = {r.id: Action.from_record(r) for r in session.scalars(
                select(ActionRecord).where(ActionRecord.id.in_(action_ids)))}
        if faq_ids:
            faqs = {r.id: Faq.from_record(r) for r in session.scalars(
                select(FaqRecord).where(FaqRecord.id.in_(faq_ids)))}
        if chunk_ids:
            passages = {
                chunk.id: Passage(chunk.id, doc.id, doc.title, chunk.section, chunk.text, doc.source,
                                  doc.source_kind, list(doc.tags or []))
                for chunk, doc in session.execute(
                    select(ChunkRecord, DocumentRecord).join(DocumentRecord)
                    .where(ChunkRecord.id.in_(chunk_ids)))
            }
    hits = []
    for candidate, entry_ref in zip(candidates, refs):
        score = candidate.dense if candidate.dense is not None else 0.0
        # A record deleted by another process may still be in this index for a moment: skip it.
        if entry_ref.kind == EntryKind.FAQ and entry_ref.id in faqs:
            faq = faqs[entry_ref.id]
            texts = faq.searchable_texts
            matched = texts[candidate.position] if candidate.position < len(texts) else faq.question
            hits.append(Hit(faq, score, matched, scores=candidate, confidence=candidate.confidence))
        elif entry_ref.kind == EntryKind.CHUNK and entry_ref.id in passages:
            passage = passages[entry_ref.id]
            hits.append(Hit(None, score, passage.text, passage=passage, scores=candidate, confidence=score))
        elif entry_ref.kind == EntryKind.ACTION and entry_ref.id in actions:
            action = actions[entry_ref.id]
            matched = action.examples[min(candidate.position, len(action.examples) - 1)]
            hits.append(Hit(None, score, matched, scores=candidate, confidence=score, action=action))
    return hits
