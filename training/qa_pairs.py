"""Question/answer pairs, the raw training data of the reply model, from FAQs and stored conversations.

Each pair carries the knowledge snippet(s) that hold its answer:
- an FAQ: each of its questions and alternative questions → its curated answer; the snippet is the FAQ;
- a stored conversation: a customer message → the human agent's reply, or → a bot reply the customer gave a
  thumbs up (the FAQs the bot cited are its snippets; an agent reply with no FAQ is its own snippet).

A CSV file is a third source (training/qa_csv.py).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dialogue.messages import ReplyKind, TurnRole
from retrieval.faqs import Faq
from training.conversations import ExportedConversation

_CITATION = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Snippet:
    question: str
    answer: str


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    group: str  # the unit of the split: "faq:12", "csv:bitext:cancel_order", "conversation:7"
    source: str  # "faq", "conversation", "csv:<file name>"
    knowledge: tuple[Snippet, ...]  # the snippet(s) that hold the answer


def pairs_from_faqs(faqs: Iterable[Faq]) -> list[QAPair]:
    pairs = []
    for faq in faqs:
        snippet = Snippet(faq.question, faq.answer)
        for question in [faq.question, *faq.alt_questions]:
            pairs.append(QAPair(question, faq.answer, f"faq:{faq.id}", "faq", (snippet,)))
    return pairs


def pairs_from_conversations(conversations: Iterable[ExportedConversation],
                             faqs_by_id: Mapping[int, Faq]) -> list[QAPair]:
    """Agent replies and thumbs-up bot replies, each answering the customer's last message before it.

    Thumbs-down replies are left out: they say what not to answer, which this loss cannot learn from.
    """
    pairs = []
    for conversation in conversations:
        asked: str | None = None
        for turn in conversation.turns:
            if turn.role == TurnRole.USER:
                asked = turn.text
                continue
            answered = turn.kind in (ReplyKind.FAQ, ReplyKind.GENERATED)
            useful = turn.role == TurnRole.AGENT or (turn.feedback == 1 and answered)
            if useful and asked and turn.text.strip():
                pairs.append(_conversation_pair(conversation.id, asked, turn, faqs_by_id))
    return pairs


def _conversation_pair(conversation_id: int, question: str, turn, faqs_by_id: Mapping[int, Faq]) -> QAPair:
    answer = _CITATION.sub("", turn.text).strip()  # citations are re-numbered for the new prompt
    cited = [faqs_by_id[s["id"]] for s in turn.sources if s.get("id") in faqs_by_id]
    if cited:
        knowledge = tuple(Snippet(faq.question, faq.answer) for faq in cited)
        return QAPair(question, answer, f"faq:{cited[0].id}", "conversation", knowledge)
    return QAPair(question, answer, f"conversation:{conversation_id}", "conversation",
                  (Snippet(question, answer),))


def pair_key(question: str, answer: str) -> tuple[str, str]:
    """What makes two pairs the same: their question and answer, case and spacing aside."""
    return _normal(question), _normal(answer)


def unique_pairs(pairs: Sequence[QAPair]) -> list[QAPair]:
    """Sources overlap (a thumbs-up FAQ reply repeats an FAQ pair): keep the first of each question/answer."""
    seen, kept = set(), []
    for pair in pairs:
        key = pair_key(pair.question, pair.answer)
        if key not in seen:
            seen.add(key)
            kept.append(pair)
    return kept


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())
