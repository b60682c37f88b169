"""Search filters: only entries with some tags, or from some sources (FAQs, documents, one document)."""

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from retrieval.documents import ChunkRecord, DocumentRecord
from retrieval.entries import chunk_entry, faq_entry
from retrieval.faqs import FaqRecord


@dataclass(frozen=True)
class SearchFilter:
    """Entries having any of `tags` (when given) and coming from any of `sources` (when given).

    A source is "faqs", "documents", or a document's file name or URL.
    """

    tags: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def allowed_entries(sessions: sessionmaker, filters: SearchFilter) -> set[int]:
    """The entries of FAQs and document chunks that pass `filters`."""
    tags = {tag.strip().lower() for tag in filters.tags if tag.strip()}
    sources = set(filters.sources)

    def tagged(entry_tags: list[str] | None) -> bool:
        return not tags or bool(tags & set(entry_tags or []))

    allowed: set[int] = set()
    with sessions() as session:
        if not sources or "faqs" in sources:
            allowed |= {faq_entry(faq_id) for faq_id, faq_tags in session.execute(
                select(FaqRecord.id, FaqRecord.tags)) if tagged(faq_tags)}
        documents = [doc_id for doc_id, source, doc_tags in session.execute(
            select(DocumentRecord.id, DocumentRecord.source, DocumentRecord.tags))
            if (not sources or "documents" in sources or source in sources) and tagged(doc_tags)]
        allowed |= {chunk_entry(chunk_id) for chunk_id in session.scalars(
            select(ChunkRecord.id).where(ChunkRecord.document_id.in_(documents)))}
    return allowed
