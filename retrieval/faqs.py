"""FAQ entries: the curated question/answer pairs support staff maintain.

An FAQ's *generated* alternative questions (`generated_questions`) are paraphrases an LM wrote for it
(training/enrichment.py). They are searched like the admin's alternatives but kept apart: listed separately,
removable one by one, never replacing or repeating an admin's, and kept when an admin edits the FAQ.
"""

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
    generated_questions: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
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
    generated_questions: list[str] = field(default_factory=list)  # an LM's paraphrases, kept apart

    @property
    def searchable_texts(self) -> list[str]:
        return [self.question, *self.alt_questions, *self.generated_questions]

    @property
    def embedded_texts(self) -> list[str]:
        """What a write embeds and logs: the searchable texts, then the answer (`SearchIndex.answers`)."""
        return [*self.searchable_texts, self.answer]

    @property
    def content_hash(self) -> str:
        fields = [self.question, self.answer, self.alt_questions, self.tags]
        # Without generated questions the hash is the one every FAQ had before they existed: nothing re-embeds.
        payload = json.dumps(fields + ([self.generated_questions] if self.generated_questions else []),
                             ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def with_generated(self, questions: list[str]) -> "FaqDraft":
        """This draft with `questions` as its generated alternatives, minus any the admin's texts already have."""
        return make_draft(self.question, self.answer, self.alt_questions, self.tags, questions)


@dataclass(frozen=True)
class Faq:
    id: int
    question: str
    answer: str
    alt_questions: list[str]
    tags: list[str]
    version: int
    updated_at: datetime
    generated_questions: list[str] = field(default_factory=list)

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
            generated_questions=list(record.generated_questions or []),
        )

    @property
    def searchable_texts(self) -> list[str]:
        return [self.question, *self.alt_questions, *self.generated_questions]


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
    question: str, answer: str, alt_questions: list[str] | None = None, tags: list[str] | None = None,
    generated_questions: list[str] | None = None,
) -> FaqDraft:
    """Strip whitespace, drop empty and repeated alternatives (a generated one that repeats any other text
    too), and refuse an FAQ with nothing to match."""
    from retrieval.errors import InvalidFaq

    question, answer = (question or "").strip(), (answer or "").strip()
    if not question:
        raise InvalidFaq("`question` must not be empty.")
    if not answer:
        raise InvalidFaq("`answer` must not be empty.")
    seen = {question.casefold()}
    alternatives, generated = _new_texts(alt_questions, seen), _new_texts(generated_questions, seen)
    clean_tags = list(dict.fromkeys(tag.strip().lower() for tag in tags or [] if tag.strip()))
    return FaqDraft(question=question, answer=answer, alt_questions=alternatives, tags=clean_tags,
                    generated_questions=generated)


def _new_texts(texts: list[str] | None, seen: set[str]) -> list[str]:
    """`texts` stripped, without empty ones and ones `seen` (case-insensitive), which they are added to."""
    kept = []
    for text in texts or []:
        text = text.strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            kept.append(text)
    return kept
