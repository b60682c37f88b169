"""Agent assist: for a conversation waiting for a person, the knowledge that answers it and a drafted reply.

The draft comes from the same answer path as a chat reply (`DialogueManager.draft_answer`, dialogue/answering.py):
the same follow-up context, thresholds, prompt, LM judgement and reply check; across languages, with a capable
LM's judgement on, the same answer in the customer's language as chat sends (dialogue/crosslingual.py). A
drafted reply that the check stops is not offered; the agent sees why (and the curated answer when chat would
send that instead). Nothing is sent or stored: the agent inserts, edits and sends the draft through the inbox.
"""

from dataclasses import dataclass

from sqlalchemy import select

from dialogue.answering import Answer, Question
from dialogue.context import contextualize
from dialogue.inbox import ConversationView
from dialogue.manager import DialogueManager
from dialogue.messages import HistoryEntry, ReplyKind, TurnRole
from dialogue.policy import Decision
from dialogue.questions import customer_question
from dialogue.records import ConversationRecord
from retrieval.entries import HitKind
from retrieval.hits import Hit

TOP_SNIPPETS = 5


@dataclass(frozen=True)
class Snippet:
    kind: HitKind  # FAQ or DOCUMENT
    id: int
    title: str
    text: str
    url: str | None
    score: float


@dataclass(frozen=True)
class Draft:
    text: str
    kind: ReplyKind  # FAQ (the curated answer) or GENERATED
    sources: list[Snippet]
    model_id: str | None


@dataclass(frozen=True)
class Suggestions:
    conversation_id: int
    question: str | None
    search_query: str | None
    decision: Decision | None  # what chat would do
    snippets: list[Snippet]
    draft: Draft | None
    note: str | None  # why there is no draft, or why it is the curated answer and not a drafted one
    rejected: dict | None = None  # the drafted reply the check stopped, and why: {"text", "reasons"}


def suggest(manager: DialogueManager, view: ConversationView, with_draft: bool = True) -> Suggestions:
    customer = [turn.text for turn in view.turns if turn.role is TurnRole.USER]
    question = customer_question(customer)
    if question is None:
        return Suggestions(view.id, None, None, None, [], None, "The customer has not asked a question yet.")
    earlier = [text for text in customer[:-1] if text != question][-2:]
    last_customer = max(index for index, turn in enumerate(view.turns) if turn.role is TurnRole.USER)
    history = [HistoryEntry(turn.role, turn.text) for turn in view.turns[:last_customer]]
    answer = manager.draft_answer(Question(question, contextualize(question, earlier), history,
                                           _profile_facts(manager, view.id)), view.language, draft=with_draft)
    found = answer.found
    snippets = [_snippet(hit) for hit in found.hits]
    base = dict(conversation_id=view.id, question=question, search_query=answer.searched or found.searched,
                decision=found.decision, snippets=snippets, rejected=answer.rejected)
    return Suggestions(**base, **_draft(answer, snippets))


def _draft(answer: Answer, snippets: list[Snippet]) -> dict:
    found = answer.found
    cited = {(source.kind or HitKind.FAQ, source.id) for source in answer.sources}
    used = [snippet for snippet in snippets if (snippet.kind, snippet.id) in cited]
    stopped = _stopped_note(answer)
    if answer.kind is ReplyKind.FAQ:
        return dict(draft=Draft(answer.text, ReplyKind.FAQ, used, None), note=stopped and (
            f"{stopped} The top FAQ's curated answer instead, as chat would send it."))
    if answer.kind is ReplyKind.GENERATED:
        return dict(draft=Draft(answer.text, ReplyKind.GENERATED, used, answer.model_id), note=None)
    if answer.kind is None:
        return dict(draft=None, note="Drafting was not asked for (draft=false).")
    if stopped:
        return dict(draft=None, note=f"{stopped} Answer yourself.")
    if found.decision is Decision.FALLBACK:
        best = f"{found.hits[0].confidence:.2f}" if found.hits else "none"
        return dict(draft=None, note=(
            f"Nothing in the knowledge base matches well enough to draft an answer (best confidence {best}, "
            f"drafts need {found.thresholds.generate:.2f}). Answer yourself, and consider adding an FAQ."))
    return dict(draft=None, note="The language model wrote nothing usable for this question; answer yourself.")


def _stopped_note(answer: Answer) -> str | None:
    if not answer.rejected:
        return None
    return "The drafted reply was not offered: " + "; ".join(answer.rejected["reasons"]) + "."


def _profile_facts(manager: DialogueManager, conversation_id: int) -> list[str]:
    with manager.store.sessions() as session:
        customer_id = session.scalar(select(ConversationRecord.customer_id)
                                     .where(ConversationRecord.id == conversation_id))
    return manager.store.profile(customer_id).facts()


def _snippet(hit: Hit) -> Snippet:
    return Snippet(hit.kind, hit.id, hit.title, hit.text, hit.url, round(hit.confidence, 4))
