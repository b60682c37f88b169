"""Agent assist: for a conversation waiting for a person, the knowledge that answers it and a drafted reply.

It searches exactly as chat does (the same follow-up context, thresholds and prompt), but nothing is sent
or stored: the agent inserts, edits and sends the draft through the inbox.
"""

from dataclasses import dataclass

from sqlalchemy import select

from dialogue.questions import customer_question
from dialogue.context import CONTEXT_WEIGHT, contextualize
from dialogue.grounding import mark_citations
from dialogue.manager import DialogueManager
from dialogue.policy import Decision, decide, supporting
from dialogue.prompt import HistoryTurn, build_prompt
from dialogue.records import ConversationRecord
from dialogue.inbox import ConversationView
from retrieval.knowledge_base import Hit

TOP_SNIPPETS = 5


@dataclass(frozen=True)
class Snippet:
    kind: str  # faq | document
    id: int
    title: str
    text: str
    url: str | None
    score: float


@dataclass(frozen=True)
class Draft:
    text: str
    kind: str  # faq (the curated answer) | generated
    sources: list[Snippet]
    model_id: str | None


@dataclass(frozen=True)
class Suggestions:
    conversation_id: int
    question: str | None
    search_query: str | None
    decision: str | None  # what chat would do: faq | generate | fallback
    snippets: list[Snippet]
    draft: Draft | None
    note: str | None  # why there is no draft, when there is none


def suggest(manager: DialogueManager, view: ConversationView, with_draft: bool = True) -> Suggestions:
    customer = [turn.text for turn in view.turns if turn.role == "user"]
    question = customer_question(customer)
    if question is None:
        return Suggestions(view.id, None, None, None, [], None, "The customer has not asked a question yet.")
    earlier = [text for text in customer[:-1] if text != question][-2:]
    query = contextualize(question, earlier)
    hits = manager.knowledge.search(query.text, top_k=TOP_SNIPPETS, context=query.context,
                                    context_weight=CONTEXT_WEIGHT)
    thresholds = manager.thresholds()
    decision = decide(hits, thresholds)
    snippets = [_snippet(hit) for hit in hits]
    base = dict(conversation_id=view.id, question=question, search_query=query.rewritten,
                decision=decision.value, snippets=snippets)
    if decision is Decision.FALLBACK:
        best = f"{hits[0].confidence:.2f}" if hits else "none"
        return Suggestions(**base, draft=None, note=(
            f"Nothing in the knowledge base matches well enough to draft an answer (best confidence {best}, "
            f"drafts need {thresholds.generate:.2f}). Answer yourself, and consider adding an FAQ."))
    if decision is Decision.FAQ:
        return Suggestions(**base, draft=Draft(hits[0].faq.answer, "faq", [snippets[0]], None), note=None)
    if not with_draft:
        return Suggestions(**base, draft=None, note="Drafting was not asked for (draft=false).")
    return Suggestions(**base, **_generated(manager, view, question, supporting(hits, thresholds)))


def _generated(manager: DialogueManager, view: ConversationView, question: str, hits: list[Hit]) -> dict:
    config = manager.config
    used = hits[: config.snippets_in_prompt]  # the ones chat would give the LM
    last_customer = max(index for index, turn in enumerate(view.turns) if turn.role == "user")
    history = [HistoryTurn("user" if turn.role == "user" else "assistant", turn.text)
               for turn in view.turns[:last_customer]]
    messages = build_prompt(
        company=config.company, message=question, snippets=used, profile_facts=_profile_facts(manager, view.id),
        history=history, count_tokens=manager.generator.count_tokens,
        history_token_budget=config.history_token_budget,
    )
    generation = manager.generator.generate(messages, max_new_tokens=config.max_new_tokens,
                                            temperature=config.temperature)
    if not generation.text.strip():
        return dict(draft=None, note="The language model wrote nothing for this question; answer yourself.")
    text = mark_citations(generation.text, [f"{hit.title}\n{hit.text}" for hit in used])
    return dict(draft=Draft(text, "generated", [_snippet(hit) for hit in used], generation.model_id), note=None)


def _profile_facts(manager: DialogueManager, conversation_id: int) -> list[str]:
    with manager.store.sessions() as session:
        user_id = session.scalar(select(ConversationRecord.user_id).where(ConversationRecord.id == conversation_id))
    return manager.store.profile(user_id).facts()


def _snippet(hit: Hit) -> Snippet:
    return Snippet(hit.kind, hit.id, hit.title, hit.text, hit.url, round(hit.confidence, 4))
