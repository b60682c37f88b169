"""Documents in and out of the knowledge base: parse, chunk, embed only what changed, store, index.

Everything that can fail (size, type, parsing, emptiness, embedding) happens before the one database
transaction, so a bad document leaves nothing behind; the index is changed only after the commit.
"""

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.database import utcnow
from core.audit import SYSTEM, audit_knowledge
from retrieval.changes import record_changes
from retrieval.chunking import ChunkDraft, ChunkingConfig, chunk_sections
from retrieval.documents import ChunkRecord, Document, DocumentRecord, Passage, embedding_text
from retrieval.embedder import Embedder
from retrieval.entries import chunk_entry
from retrieval.errors import DocumentNotFound, DocumentTooLarge
from retrieval.parsing import media_type_of, parse
from retrieval.search_index import SearchIndex, Upsert


@dataclass(frozen=True)
class Upload:
    source: str  # file name, or URL for fetched pages
    data: bytes
    source_kind: str = "upload"
    content_type: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None  # overrides the title found in the document


@dataclass(frozen=True)
class IngestReport:
    document: Document
    created: bool
    added: int  # chunks embedded (new or changed)
    removed: int  # chunks gone from the document
    unchanged: int  # chunks kept with their embeddings


class DocumentLibrary:
    def __init__(self, sessions: sessionmaker, embedder: Embedder, index: SearchIndex, write_lock: threading.Lock,
                 chunking: ChunkingConfig = ChunkingConfig(), max_upload_bytes: int = 10_000_000):
        self.sessions = sessions
        self.embedder = embedder
        self.index = index
        self.chunking = chunking
        self.max_upload_bytes = max_upload_bytes
        self._write_lock = write_lock

    # -- reads ---------------------------------------------------------------------------------------

    def page(self, offset: int = 0, limit: int = 100) -> tuple[list[Document], int]:
        with self.sessions() as session:
            count = session.scalar(select(func.count()).select_from(DocumentRecord)) or 0
            records = session.scalars(select(DocumentRecord).order_by(DocumentRecord.id).offset(offset).limit(limit))
            return [Document.from_record(record) for record in records], count

    def get(self, document_id: int) -> Document:
        with self.sessions() as session:
            return Document.from_record(self._record(session, document_id))

    def passages(self, document_id: int) -> list[Passage]:
        with self.sessions() as session:
            doc = self._record(session, document_id)
            chunks = session.scalars(select(ChunkRecord).where(ChunkRecord.document_id == document_id)
                                     .order_by(ChunkRecord.position))
            return [Passage(c.id, doc.id, doc.title, c.section, c.text, doc.source, doc.source_kind,
                            list(doc.tags or [])) for c in chunks]

    def find(self, source: str) -> Document | None:
        with self.sessions() as session:
            record = session.scalar(select(DocumentRecord).where(DocumentRecord.source == source))
            return Document.from_record(record) if record else None

    def document_of_chunk(self, chunk_id: int) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(ChunkRecord.document_id).where(ChunkRecord.id == chunk_id))

    @staticmethod
    def _record(session: Session, document_id: int) -> DocumentRecord:
        record = session.get(DocumentRecord, document_id)
        if record is None:
            raise DocumentNotFound(document_id)
        return record

    # -- writes --------------------------------------------------------------------------------------

    def ingest(self, upload: Upload, actor: str = SYSTEM) -> IngestReport:
        """Add a document, or re-sync the one with the same source: only changed chunks are embedded."""
        if len(upload.data) > self.max_upload_bytes:
            raise DocumentTooLarge(upload.source, len(upload.data), self.max_upload_bytes)
        parsed = parse(upload.data, media_type_of(upload.source, upload.content_type), upload.source)
        title = (upload.title or "").strip() or parsed.title
        # A repeated chunk (boilerplate, a footer per page) adds nothing to search: keep its first copy.
        drafts = list({draft.content_hash(title): draft for draft in reversed(
            chunk_sections(parsed.sections, self.chunking))}.values())[::-1]
        tags = list(dict.fromkeys(tag.strip().lower() for tag in upload.tags if tag.strip()))
        with self._write_lock:
            with self.sessions() as session:
                record = session.scalar(select(DocumentRecord).where(DocumentRecord.source == upload.source))
                kept = {c.content_hash: c for c in session.scalars(
                    select(ChunkRecord).where(ChunkRecord.document_id == record.id))} if record else {}
            hashes = [draft.content_hash(title) for draft in drafts]
            vectors = self._embed(title, [(d, h) for d, h in zip(drafts, hashes) if h not in kept])
            return self._store(upload, parsed.media_type, title, tags, drafts, hashes, vectors, actor)

    def _embed(self, title: str, drafts: list[tuple[ChunkDraft, str]]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([embedding_text(title, draft.section, draft.text) for draft, _ in drafts])
        return {digest: vectors[i : i + 1] for i, (_, digest) in enumerate(drafts)}

    def _store(self, upload: Upload, media_type: str, title: str, tags: list[str], drafts: list[ChunkDraft],
               hashes: list[str], vectors: dict[str, np.ndarray], actor: str) -> IngestReport:
        with self.sessions() as session:
            record = session.scalar(select(DocumentRecord).where(DocumentRecord.source == upload.source))
            created = record is None
            if created:
                record = DocumentRecord(source=upload.source, source_kind=upload.source_kind, version=1)
                session.add(record)
            else:
                record.version += 1
            record.title, record.media_type, record.tags = title, media_type, tags
            record.size_bytes, record.chunk_count = len(upload.data), len(drafts)
            record.content_hash = hashlib.sha256(upload.data).hexdigest()
            record.updated_at = utcnow()
            session.flush()
            old = {c.content_hash: c for c in session.scalars(
                select(ChunkRecord).where(ChunkRecord.document_id == record.id))}
            wanted = set(hashes)
            removed = [chunk for digest, chunk in old.items() if digest not in wanted]
            for chunk in removed:
                session.delete(chunk)
            # Another process may have changed the document since `ingest` looked: embed what it lacks.
            vectors |= self._embed(title, [(d, h) for d, h in zip(drafts, hashes)
                                           if h not in old and h not in vectors])
            new_records = []
            for position, (draft, digest) in enumerate(zip(drafts, hashes)):
                if digest in old:
                    old[digest].position = position  # unchanged text, maybe moved: keep its embedding
                    continue
                chunk = ChunkRecord(document_id=record.id, position=position, section=draft.section,
                                    text=draft.text, content_hash=digest)
                session.add(chunk)
                new_records.append(chunk)
            session.flush()
            touched = [chunk_entry(c.id) for c in removed + new_records]
            logged = {chunk_entry(c.id): (c.content_hash, vectors[c.content_hash]) for c in new_records}
            version = record_changes(session, touched, logged, self.embedder.model_id) if touched else None
            audit_knowledge(session, actor, "document.create" if created else "document.update",
                            f"document:{record.id}", source=upload.source, added=len(new_records),
                            removed=len(removed))
            session.commit()
            document = Document.from_record(record)
        if version is not None:
            upserts = [Upsert(chunk_entry(c.id), [embedding_text(title, c.section, c.text)], vectors[c.content_hash],
                              c.content_hash) for c in new_records]
            self.index.apply(version, upserts, [chunk_entry(c.id) for c in removed])
        return IngestReport(document, created, len(new_records), len(removed), len(drafts) - len(new_records))

    def delete(self, document_id: int, actor: str = SYSTEM) -> None:
        with self._write_lock:
            with self.sessions() as session:
                record = self._record(session, document_id)
                chunk_ids = list(session.scalars(select(ChunkRecord.id).where(ChunkRecord.document_id == document_id)))
                for chunk in session.scalars(select(ChunkRecord).where(ChunkRecord.document_id == document_id)):
                    session.delete(chunk)
                session.delete(record)
                entries = [chunk_entry(chunk_id) for chunk_id in chunk_ids]
                version = record_changes(session, entries) if entries else None
                audit_knowledge(session, actor, "document.delete", f"document:{document_id}", source=record.source,
                      chunks=len(chunk_ids))
                session.commit()
            if version is not None:
                self.index.apply(version, [], entries)
