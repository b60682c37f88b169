"""Entry ids: one int64 space for everything search can return.

A document chunk's entry id is its chunk id. An FAQ's entry id sets bit 62 and keeps the FAQ id above 16
position bits, so each of its texts (question = 0, alternatives 1..) has its own vector id and both
indexes map a vector back to its FAQ with a mask instead of a lookup table.
An action (retrieval/declared_actions/declarations.py) is laid out like an FAQ under bit 61, one vector per
example phrasing.
"""

from dataclasses import dataclass
from enum import StrEnum

FAQ_BIT = 1 << 62
ACTION_BIT = 1 << 61
_TEXTS_BITS = FAQ_BIT | ACTION_BIT  # entries with several texts, a position for each
POSITION_BITS = 16
MAX_TEXTS_PER_ENTRY = 1 << POSITION_BITS
_POSITION_MASK = MAX_TEXTS_PER_ENTRY - 1


class EntryKind(StrEnum):
    FAQ = "faq"
    CHUNK = "chunk"  # a passage of a document
    ACTION = "action"  # a declared action, searched apart from knowledge


class HitKind(StrEnum):
    """What a search result is, as replies and the admin API name it (a chunk is shown as its document)."""

    FAQ = "faq"
    DOCUMENT = "document"
    ACTION = "action"


@dataclass(frozen=True)
class EntryRef:
    kind: EntryKind
    id: int


def faq_entry(faq_id: int) -> int:
    return FAQ_BIT | (faq_id << POSITION_BITS)


def action_entry(action_id: int) -> int:
    return ACTION_BIT | (action_id << POSITION_BITS)


def chunk_entry(chunk_id: int) -> int:
    if chunk_id >= ACTION_BIT:
        raise ValueError(f"chunk id {chunk_id} is too large")
    return chunk_id


def ref(entry: int) -> EntryRef:
    if entry & FAQ_BIT:
        return EntryRef(EntryKind.FAQ, (entry & ~FAQ_BIT) >> POSITION_BITS)
    if entry & ACTION_BIT:
        return EntryRef(EntryKind.ACTION, (entry & ~ACTION_BIT) >> POSITION_BITS)
    return EntryRef(EntryKind.CHUNK, entry)


def vector_ids(entry: int, count: int) -> list[int]:
    if entry & _TEXTS_BITS:
        if count > MAX_TEXTS_PER_ENTRY:
            raise ValueError(f"an FAQ or action can have at most {MAX_TEXTS_PER_ENTRY} texts")
        return [entry | position for position in range(count)]
    if count != 1:
        raise ValueError("a chunk has exactly one vector")
    return [entry]


def entry_of_vector(vector_id: int) -> tuple[int, int]:
    """(entry id, position of the text within the entry)."""
    if vector_id & _TEXTS_BITS:
        return vector_id & ~_POSITION_MASK, vector_id & _POSITION_MASK
    return vector_id, 0


def fingerprint(content_hash: str) -> int:
    """60 bits of a hex content hash: enough to tell versions of one entry apart, 8 bytes per vector."""
    return int(content_hash[:15], 16)
