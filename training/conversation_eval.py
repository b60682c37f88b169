"""Multi-turn conversations of an eval file, asked in order through the real answering path.

An eval file's `conversations:` list holds turns with the FAQ that answers each one (`faq`), the FAQs a
full answer needs (`faqs`), or `out_of_scope: true`. Each conversation is asked by its own sender through
`DialogueManager.respond` (context rewriting, the decision, the LM and its reply check, all as in chat),
and each reply is scored on what it was built from:

- *answered correctly*: not a fallback, and the expected FAQ is the curated answer or among the snippets
  of the generated reply (for `faqs`: every one of them, so a two-FAQ question answered from one counts
  as wrong);
- *out of scope → fallback*: the share of `out_of_scope` turns that got the fallback;
- *wrong answers sent per 100 turns* (`verdict`): an answer built from none of the FAQs the turn needs, or
  any answer to an out-of-scope turn;
- the generated replies are scored like single questions (`generation_scores`).
"""

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from dialogue.answering import Question
from dialogue.context import contextualize
from dialogue.grounding import is_refusal, sentences
from dialogue.messages import InboundMessage, ReplyKind
from dialogue.policy import Decision
from retrieval.entries import HitKind
from training.reply_scores import generation_scores

ANSWERS = (ReplyKind.FAQ, ReplyKind.GENERATED)


@dataclass(frozen=True)
class Turn:
    query: str
    expected: frozenset[str]  # FAQ questions a full answer uses; empty when out of scope


def load_conversations(path: Path) -> list[list[Turn]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    conversations = []
    for number, conversation in enumerate(data.get("conversations") or [], 1):
        turns = []
        for turn in conversation.get("turns") or []:
            expected = [turn["faq"]] if "faq" in turn else list(turn.get("faqs") or [])
            if not expected and not turn.get("out_of_scope"):
                raise ValueError(f"{path}: conversation {number}: a turn needs faq, faqs or out_of_scope: true")
            turns.append(Turn(turn["query"], frozenset(expected)))
        conversations.append(turns)
    return conversations


def used_faqs(reply) -> set[int]:
    """FAQ ids a reply was built from: the curated answer's, or the FAQ snippets of a generated reply."""
    if reply is None:
        return set()
    if reply.kind is ReplyKind.FAQ:
        return {source.id for source in reply.sources if source.kind in (None, HitKind.FAQ)}
    if reply.kind is ReplyKind.GENERATED:
        return {source.id for source in reply.sources if source.kind == HitKind.FAQ}
    return set()


def verdict(expected: frozenset[int], reply) -> str:
    """"right", "wrong" (a wrong answer was sent) or "none" (fallback, hand-over, small talk, partial)."""
    if reply is None or reply.kind not in ANSWERS:
        return "none"
    if reply.kind is ReplyKind.GENERATED and all(is_refusal(s) for s in sentences(reply.text) or [reply.text]):
        return "none"  # says it cannot help: a miss where there was an answer, never a wrong one
    used = used_faqs(reply)
    if expected and expected <= used:
        return "right"
    return "wrong" if not expected & used else "none"


def answer_conversations(manager, conversations: list[list[Turn]]) -> list[list[tuple[Turn, object]]]:
    """(turn, last reply) of every turn, each conversation by its own sender."""
    async def ask_all():
        answered = []
        for number, turns in enumerate(conversations):
            replies = []
            for turn in turns:
                sent = await manager.respond(InboundMessage("eval", f"eval-conversation-{number}", turn.query))
                replies.append((turn, sent[-1] if sent else None))  # none: waiting for a person
            answered.append(replies)
        return answered

    return asyncio.run(ask_all())


def searched_conversations(answering, conversations: list[list[Turn]], faq_of: dict[str, int]) -> dict:
    """Each turn searched as chat searches it, the previous queries as they were searched (dialogue/context.py,
    `Answering.search`), without the LM: the share of turns whose search answers (not the fallback) from an FAQ the
    turn needs, and from another entry. How the conversation is read, apart from what a reply model makes of it."""
    turns = right = wrong = 0
    for conversation in conversations:
        previous: list[str] = []
        for turn in conversation:
            query = contextualize(turn.query, previous)
            found = answering.search(Question(turn.query, query), asked=False)
            previous.append((found.query or query).rewritten)
            turns += 1
            if found.decision is Decision.FALLBACK or not found.hits:
                continue
            top = found.hits[0]
            if top.faq is not None and top.faq.id in {faq_of[question] for question in turn.expected}:
                right += 1
            else:
                wrong += 1
    return {"turns": turns, "searched_right": round(right / turns, 4) if turns else None,
            "searched_wrong": round(wrong / turns, 4) if turns else None}


def _kind(reply) -> str:
    return reply.kind.value if reply else "none"  # none: no reply, the conversation waits for a person


def _right(turn: Turn, reply, faq_of: dict[str, int]) -> bool:
    """Answered from every FAQ the turn needs; a generated reply that only says it cannot help is not an answer,
    even when it cites them (SmolLM2 once repeated the fallback of the turn before, citing the right FAQ)."""
    return verdict(frozenset(faq_of[question] for question in turn.expected), reply) == "right"


def conversation_scores(answered: list[list[tuple[Turn, object]]], faq_of: dict[str, int]) -> dict:
    turns = [pair for conversation in answered for pair in conversation]
    in_scope = [(turn, reply) for turn, reply in turns if turn.expected]
    out_of_scope = [reply for turn, reply in turns if not turn.expected]
    return {
        "conversations": len(answered), "turns": len(turns),
        "answered_correctly": round(sum(_right(t, r, faq_of) for t, r in in_scope) / len(in_scope), 4)
        if in_scope else None,
        "out_of_scope_to_fallback": round(sum(r is not None and r.kind is ReplyKind.FALLBACK for r in out_of_scope)
                                          / len(out_of_scope), 4) if out_of_scope else None,
        "wrong_per_100": round(100 * sum(verdict(frozenset(faq_of[q] for q in t.expected), r) == "wrong"
                                         for t, r in turns) / len(turns), 2) if turns else None,
        "kinds": dict(Counter(_kind(reply) for _, reply in turns)),
        "generation": generation_scores([(turn.query, reply) for turn, reply in turns
                                         if reply is not None
                                         and (reply.kind is ReplyKind.GENERATED or reply.rejected)]),
        "wrong_turns": [{"query": turn.query, "kind": _kind(reply), "text": reply.text[:160] if reply else ""}
                        for turn, reply in in_scope if not _right(turn, reply, faq_of)],
    }
