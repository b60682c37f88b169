"""Which kind of answer a message gets."""

import re
from dataclasses import dataclass
from enum import StrEnum

from retrieval.knowledge_base import Hit


class Decision(StrEnum):
    FAQ = "faq"
    GENERATE = "generate"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class Thresholds:
    """Cosine similarities of the best-matching FAQ question; set from data, see docs/thresholds.md."""

    faq: float
    generate: float


def decide(hits: list[Hit], thresholds: Thresholds) -> Decision:
    if not hits or hits[0].score < thresholds.generate:
        return Decision.FALLBACK
    if hits[0].score >= thresholds.faq and hits[0].faq is not None:  # a document passage is never verbatim
        return Decision.FAQ
    return Decision.GENERATE


_HANDOFF = re.compile(
    r"\b(human|real person|a person|live agent|an agent|agent please|representative|operator|someone real"
    r"|(?:speak|talk|chat) (?:to|with) (?:a |an |some)?(?:one|body|person|staff|support|agent|human|manager)"
    r"|customer service rep|live (?:chat|support))\b",
    re.IGNORECASE,
)


def wants_person(message: str) -> bool:
    return bool(_HANDOFF.search(message))
