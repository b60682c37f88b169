"""FAQ entries: the curated question/answer pairs support staff maintain."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, utcnow


class FaqRecord(Base):
    __tablename__ = "faqs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    alt_questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class FaqDraft:
    """What an admin sends to create or replace an FAQ, already validated and normalised."""

    question: str
    answer: str
    alt_questions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def searchable_texts(self) -> list[str]:
        return [self.question, *self.alt_questions]

    @property
    def content_hash(self) -> str:
        payload = json.dumps([self.question, self.answer, self.alt_questions, self.tags], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Faq:
    id: int
    question: str
    answer: str
    alt_questions: list[str]
    tags: list[str]
    version: int
    updated_at: datetime

    @classmethod
    def from_record(cls, record: FaqRecord) -> "Faq":
        return cls(
            id=record.id,
            question=record.question,
            answer=record.answer,
            alt_questions=list(record.alt_questions or []),
            tags=list(record.tags or []),
            version=record.version,
            updated_at=record.updated_at,
        )

    @property
    def searchable_texts(self) -> list[str]:
        return [self.question, *self.alt_questions]


@dataclass(frozen=True)
class FaqPatch:
    """A partial edit: the fields set replace the stored ones, None keeps what is stored."""

    question: str | None = None
    answer: str | None = None
    alt_questions: list[str] | None = None
    tags: list[str] | None = None
    version: int | None = None  # the version that was edited; None: whatever is stored when it is written

    def applied_to(self, faq: Faq) -> "FaqDraft":
        def pick(mine, stored):
            return stored if mine is None else mine

        return make_draft(pick(self.question, faq.question), pick(self.answer, faq.answer),
                          pick(self.alt_questions, faq.alt_questions), pick(self.tags, faq.tags))


def make_draft(
    question: str, answer: str, alt_questions: list[str] | None = None, tags: list[str] | None = None
) -> FaqDraft:
    """Strip whitespace, drop empty and repeated alternatives, and refuse an FAQ with nothing to match."""
    from retrieval.errors import InvalidFaq

    question, answer = (question or "").strip(), (answer or "").strip()
    if not question:
        raise InvalidFaq("`question` must not be empty.")
    if not answer:
        raise InvalidFaq("`answer` must not be empty.")
    seen = {question.casefold()}
    alternatives = []
    for text in alt_questions or []:
        text = text.strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            alternatives.append(text)
    clean_tags = list(dict.fromkeys(tag.strip().lower() for tag in tags or [] if tag.strip()))
    return FaqDraft(question=question, answer=answer, alt_questions=alternatives, tags=clean_tags)
