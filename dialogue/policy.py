"""Which kind of answer a message gets."""

import re
from dataclasses import dataclass
from enum import StrEnum

from retrieval.hits import Hit
from retrieval.learned_state import Learned


class Decision(StrEnum):
    FAQ = "faq"
    GENERATE = "generate"
    FALLBACK = "fallback"


# Without a classifier (a knowledge base too small to calibrate): on cosine + lead (retrieval/hybrid.py), chosen on
# the sample shop and the mobile operator written as plain questions (docs/thresholds.md, "Without a classifier").
DEFAULT_FAQ_THRESHOLD = 1.10
DEFAULT_GENERATE_THRESHOLD = 0.65
DEFAULT_CURATED_THRESHOLD = 1.05  # a stopped reply's curated answer; halfway (0.875) sent 3-4 wrong per 100 there
DEFAULT_PASSAGE_THRESHOLD = 0.51  # a document passage's cosine
# The fallback suggests the FAQs it came closest to ("Is your question one of these?"): up to three, from this far
# below the generate threshold (never below where off-topic questions reach) and this close to the best one.
# Chosen on the sample shop and the mobile operator, as written and as plain questions; checked on Bitext, HWU64
# and Banking77-OOS (docs/thresholds.md, "Suggestions instead of a bare fallback").
SUGGEST_MARGIN = 0.30
SUGGEST_SPREAD = 0.30
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class Thresholds:
    """Confidences (retrieval/hybrid.py: cosine + FAQ classifier probability) the decision is made on.

    `passage` is a document passage's cosine, below which it is not given to the LM. `source` says where
    `faq` and `generate` came from: "calibrated" (from the knowledge base itself, retrieval/self_calibration.py),
    "settings" (HELPDESK_FAQ_THRESHOLD / HELPDESK_GENERATE_THRESHOLD) or "default" (no classifier: cosine + lead).
    """

    faq: float
    generate: float
    passage: float = DEFAULT_PASSAGE_THRESHOLD
    source: str = "default"
    curated_from: float | None = None  # where `curated` is not halfway: the defaults' own point
    suggest_from: float | None = None  # where suggestions start when not SUGGEST_MARGIN below `generate`

    @property
    def curated(self) -> float:
        """When a generated reply is stopped, the top FAQ is sent instead only from this confidence, halfway
        to the verbatim threshold (or the defaults' own point); below it the question is more likely one the
        FAQs do not cover, and the customer gets the fallback rather than an unrelated answer."""
        return self.curated_from if self.curated_from is not None else (self.generate + self.faq) / 2

    @property
    def suggest(self) -> float:
        """The confidence from which an FAQ is suggested under the fallback."""
        return self.suggest_from if self.suggest_from is not None else self.generate - SUGGEST_MARGIN


@dataclass(frozen=True)
class ThresholdSettings:
    """What an operator set; None leaves a threshold to the calibration."""

    faq: float | None = None
    generate: float | None = None
    passage: float = DEFAULT_PASSAGE_THRESHOLD

    def in_force(self, learned: Learned) -> Thresholds:
        calibrated = learned.calibrated if learned.classifier is not None else None
        if calibrated is not None:
            faq, generate, source = calibrated.faq_threshold, calibrated.generate_threshold, "calibrated"
        else:  # generate raised to where off-topic questions reach: an embedder whose cosines sit higher (e5)
            faq, source = DEFAULT_FAQ_THRESHOLD, "default"
            generate = min(max(DEFAULT_GENERATE_THRESHOLD, learned.off_topic_floor or 0.0), DEFAULT_CURATED_THRESHOLD)
        if self.faq is not None or self.generate is not None:
            source = "settings" if self.faq is not None and self.generate is not None else f"settings+{source}"
        own = DEFAULT_CURATED_THRESHOLD if source == "default" else None  # no threshold set: the defaults' point
        faq = self.faq if self.faq is not None else faq
        generate = self.generate if self.generate is not None else min(generate, faq)
        suggest = max(generate - SUGGEST_MARGIN, learned.off_topic_floor or 0.0)
        return Thresholds(faq=faq, generate=generate, passage=self.passage, source=source, curated_from=own,
                          suggest_from=min(suggest, generate))


def decide(hits: list[Hit], thresholds: Thresholds) -> Decision:
    """FAQ when the best hit is an FAQ confident enough to quote; generate when any FAQ or passage is
    confident enough to give the LM; else the fallback (the LM is not called)."""
    if not hits:
        return Decision.FALLBACK
    if hits[0].faq is not None and hits[0].confidence >= thresholds.faq:  # a passage is never verbatim
        return Decision.FAQ
    if supporting(hits, thresholds):
        return Decision.GENERATE
    return Decision.FALLBACK


def supporting(hits: list[Hit], thresholds: Thresholds) -> list[Hit]:
    """The hits confident enough to be shown to the LM as snippets, best first."""
    return [hit for hit in hits
            if hit.confidence >= (thresholds.generate if hit.faq is not None else thresholds.passage)]


def verbatim(hits: list[Hit], thresholds: Thresholds) -> list[Hit]:
    """The curated answers to give: the best FAQ, and a second one when it is as confident (a question
    that asks two things: "What does Plus cost and is there a student discount?")."""
    faqs = [hit for hit in hits if hit.faq is not None and hit.confidence >= thresholds.faq]
    return faqs[:2]


def suggestions(hits: list[Hit], thresholds: Thresholds, limit: int = MAX_SUGGESTIONS) -> list[Hit]:
    """The FAQs a fallback offers as "Is your question one of these?": the best `limit` from `thresholds.suggest`,
    close to the best FAQ. A suggestion is not an answer: the customer chooses, or asks for a person."""
    faqs = [hit for hit in hits if hit.faq is not None]
    if not faqs or limit <= 0:
        return []
    floor = max(thresholds.suggest, faqs[0].confidence - SUGGEST_SPREAD)
    return [hit for hit in faqs if hit.confidence >= floor][:limit]


_HANDOFF = re.compile(
    r"\b(human|real person|a person|live agent|an agent|agent please|representative|operator|someone real"
    r"|(?:speak|talk|chat) (?:to|with) (?:a |an |some)?(?:one|body|person|staff|support|agent|human|manager)"
    r"|customer service rep|live (?:chat|support))\b",
    re.IGNORECASE,
)


# The same request in the catalogue's other languages; each catalogue's fallback quotes one of these phrases
# ("mit einem Menschen sprechen", "parler à une personne", "hablar con una persona", "转人工", "担当者と話したい").
_HANDOFF_OTHER = re.compile(
    r"\b(?:mit\s+(?:einem|einer)\s+(?:menschen|mitarbeiter(?:in)?|berater(?:in)?|(?:echten|richtigen)\s+person|person)"
    r"|(?:echten|richtigen)\s+menschen|menschlichen\s+(?:mitarbeiter|ansprechpartner)"
    r"|parler\s+(?:à|a|avec)\s+(?:une\s+personne|un\s+humain|quelqu'un|un\s+(?:conseiller|agent|op(?:é|e)rateur))"
    r"|(?:une\s+)?vraie\s+personne|un\s+conseiller|(?:un|une)\s+(?:ê|e)tre\s+humain"
    r"|hablar\s+con\s+(?:una\s+persona|un\s+humano|alguien|un\s+(?:agente|asesor|operador))|persona\s+real"
    r"|un\s+agente(?:\s+humano)?)\b"
    r"|转人工|人工客服|人工服务|找人工|真人客服|客服人员|找客服|和人(?:工)?(?:说话|聊)"
    r"|担当者|オペレーター|人間と話|有人対応|人と話したい|スタッフと話",
    re.IGNORECASE,
)


def wants_person(message: str) -> bool:
    """Does the customer ask for a person (in any catalogue language)?"""
    return bool(_HANDOFF.search(message) or _HANDOFF_OTHER.search(message))
