"""What the database holds for each index entry: searchable texts, content fingerprint, an FAQ's answer."""

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from retrieval.declared_actions.declarations import ActionRecord
from retrieval.documents import ChunkRecord, DocumentRecord, embedding_text
from retrieval.entries import ACTION_BIT, FAQ_BIT, action_entry, chunk_entry, faq_entry, fingerprint, ref
from retrieval.faqs import FaqRecord


def stored_fingerprints(session: Session) -> dict[int, int]:
    """The content fingerprint of every FAQ, chunk and declared action, by entry."""
    found = {faq_entry(faq_id): fingerprint(digest)
             for faq_id, digest in session.execute(select(FaqRecord.id, FaqRecord.content_hash))}
    found.update((chunk_entry(chunk_id), fingerprint(digest))
                 for chunk_id, digest in session.execute(select(ChunkRecord.id, ChunkRecord.content_hash)))
    found.update((action_entry(action_id), fingerprint(digest))
                 for action_id, digest in session.execute(select(ActionRecord.id, ActionRecord.content_hash)))
    return found


def stored_texts(sessions: sessionmaker, entries: list[int]) -> dict[int, tuple[list[str], str]]:
    """The searchable texts and the content hash of each entry the database still has."""
    faq_ids = [ref(entry).id for entry in entries if entry & FAQ_BIT]
    action_ids = [ref(entry).id for entry in entries if entry & ACTION_BIT]
    chunk_ids = [entry for entry in entries if not entry & (FAQ_BIT | ACTION_BIT)]
    found: dict[int, tuple[list[str], str]] = {}
    with sessions() as session:
        for action in session.scalars(select(ActionRecord).where(ActionRecord.id.in_(action_ids))):
            found[action_entry(action.id)] = (list(action.examples), action.content_hash)
        for record in session.scalars(select(FaqRecord).where(FaqRecord.id.in_(faq_ids))):
            found[faq_entry(record.id)] = ([record.question, *(record.alt_questions or []),
                                            *(record.generated_questions or [])], record.content_hash)
        rows = session.execute(
            select(ChunkRecord.id, ChunkRecord.section, ChunkRecord.text, ChunkRecord.content_hash,
                   DocumentRecord.title)
            .join(DocumentRecord, DocumentRecord.id == ChunkRecord.document_id)
            .where(ChunkRecord.id.in_(chunk_ids)))
        for chunk_id, section, text, digest, title in rows:
            found[chunk_entry(chunk_id)] = ([embedding_text(title, section, text)], digest)
    return found


def stored_answers(sessions: sessionmaker, entries: list[int]) -> dict[int, tuple[str, str]]:
    """The answer and the content hash of each FAQ of `entries` the database still has."""
    with sessions() as session:
        return {faq_entry(faq_id): (answer, digest) for faq_id, answer, digest in session.execute(
            select(FaqRecord.id, FaqRecord.answer, FaqRecord.content_hash)
            .where(FaqRecord.id.in_([ref(entry).id for entry in entries])))}
