"""Cutting a parsed document into passages that fit the embedder and make sense on their own.

Sections (the text under one heading, or one PDF page) are never mixed in a chunk, so every chunk has
one section title to cite. Within a section, whole paragraphs are packed up to `max_chars`; a paragraph
that is too long is split at sentence ends, and a sentence that is too long at word boundaries. Each
chunk after the first of a section starts with the last `overlap_chars` of the one before, so a fact
that straddles a cut is still found whole in one of them.
"""

import hashlib
import re
from dataclasses import dataclass

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class Section:
    heading: str  # "Returns › Devices"; "" for text before the first heading
    text: str


@dataclass(frozen=True)
class ChunkDraft:
    section: str
    text: str

    def content_hash(self, title: str) -> str:
        """Covers everything that is embedded, so a changed title or heading re-embeds the chunk too."""
        return hashlib.sha256("\x1f".join([title, self.section, self.text]).encode()).hexdigest()


@dataclass(frozen=True)
class ChunkingConfig:
    max_chars: int = 1000
    overlap_chars: int = 150

    def __post_init__(self) -> None:
        if self.max_chars < 50 or not 0 <= self.overlap_chars < self.max_chars // 2:
            raise ValueError("chunking needs max_chars >= 50 and 0 <= overlap_chars < max_chars / 2")


def chunk_sections(sections: list[Section], config: ChunkingConfig = ChunkingConfig()) -> list[ChunkDraft]:
    chunks = []
    for section in sections:
        pieces = [piece for paragraph in paragraphs(section.text) for piece in _fit(paragraph, config.max_chars)]
        chunks += [ChunkDraft(section.heading, text) for text in _pack(pieces, config)]
    return chunks


def paragraphs(text: str) -> list[str]:
    cleaned = (_SPACES.sub(" ", block).strip() for block in _PARAGRAPH_BREAK.split(text))
    return [block for block in cleaned if block]


def _fit(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        pieces += [sentence] if len(sentence) <= limit else _split_words(sentence, limit)
    return pieces


def _split_words(text: str, limit: int) -> list[str]:
    pieces, current = [], ""
    for word in text.split():
        while len(word) > limit:  # a URL or a token with no spaces
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > limit:
            pieces.append(current)
            candidate = word
        current = candidate
    if current:
        pieces.append(current)
    return pieces


def _pack(pieces: list[str], config: ChunkingConfig) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and len(_join(current + [piece])) > config.max_chars:
            chunks.append(_join(current))
            current = _overlap(current, config.overlap_chars)
            if len(_join(current + [piece])) > config.max_chars:
                current = []
        current.append(piece)
    if current:
        chunks.append(_join(current))
    return chunks


def _overlap(pieces: list[str], budget: int) -> list[str]:
    """The tail of a finished chunk, at most `budget` characters, starting at a word."""
    if budget == 0:
        return []
    tail = _join(pieces)[-budget:]
    if " " in tail:
        tail = tail[tail.index(" ") + 1 :]
    return [f"… {tail}"] if tail else []


def _join(pieces: list[str]) -> str:
    return "\n\n".join(pieces)
