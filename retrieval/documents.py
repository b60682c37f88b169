"""Documents (help-center articles, policy pages, PDFs) and the chunks search finds in them."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, utcnow


class DocumentRecord(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A file name for uploads, the URL for fetched pages; uploading the same source again re-syncs it.
    source: Mapped[str] = mapped_column(String(2000), unique=True)
    source_kind: Mapped[str] = mapped_column(String(16))  # "upload" | "url"
    title: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChunkRecord(Base):
    __tablename__ = "document_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Document:
    id: int
    source: str
    source_kind: str
    title: str
    media_type: str
    tags: list[str]
    size_bytes: int
    chunk_count: int
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, record: DocumentRecord) -> "Document":
        return cls(record.id, record.source, record.source_kind, record.title, record.media_type,
                   list(record.tags or []), record.size_bytes, record.chunk_count, record.version,
                   record.created_at, record.updated_at)

    @property
    def url(self) -> str | None:
        return self.source if self.source_kind == "url" else None


@dataclass(frozen=True)
class Passage:
    """A chunk as search returns it: enough to cite it without another query."""

    id: int
    document_id: int
    title: str
    section: str
    text: str
    source: str  # file name or URL
    source_kind: str
    tags: list[str]

    @property
    def heading(self) -> str:
        return f"{self.title} › {self.section}" if self.section else self.title


def embedding_text(title: str, section: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: the headings give a bare paragraph its topic."""
    return "\n".join(part for part in (title, section, text) if part)
