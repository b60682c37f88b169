"""Admin API for agent assist: suggested replies for a conversation, drafted from the knowledge base."""

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from bot.deps import ManagerDep, ServicesDep, require_admin
from bot.support.assist import suggest
from dialogue.inbox import Inbox
from dialogue.messages import ReplyKind
from dialogue.policy import Decision
from retrieval.entries import HitKind

# The suggestions quote the transcript, so they need what reading the transcript needs.
router = APIRouter(prefix="/admin/conversations", tags=["admin"], dependencies=[Depends(require_admin)])


class SnippetOut(BaseModel):
    kind: HitKind = Field(description="faq | document")
    id: int = Field(description="FAQ id or document chunk id")
    title: str
    text: str = Field(description="the FAQ's answer or the passage")
    url: str | None
    score: float = Field(description="confidence (cosine + FAQ classifier probability, or + lead without a "
                                     "classifier), as the thresholds use it")


class DraftOut(BaseModel):
    text: str
    kind: ReplyKind = Field(description="faq: the curated answer, verbatim; generated: written by the LM")
    sources: list[SnippetOut]
    model_id: str | None


class RejectedOut(BaseModel):
    text: str = Field(description="what the LM wrote (or its raw output, when it was outside the answer form)")
    reasons: list[str] = Field(description="why it was not offered: the reply check's findings, sentence by sentence")


class SuggestionsOut(BaseModel):
    conversation_id: int
    question: str | None = Field(description="the customer question the suggestions answer")
    search_query: str | None = Field(description="what was searched (follow-ups carry the previous question)")
    decision: Decision | None = Field(description="what chat would do: faq | generate | fallback")
    snippets: list[SnippetOut]
    draft: DraftOut | None
    note: str | None = Field(description="why there is no draft, or why the draft is the curated answer")
    rejected: RejectedOut | None = Field(
        None, description="the drafted reply the reply check stopped (it is never offered as the draft)")


@router.get("/{conversation_id}/suggestions", response_model=SuggestionsOut)
async def suggestions(conversation_id: int, services: ServicesDep, manager: ManagerDep,
                      draft: bool = Query(True, description="false: snippets only, no LM call (fast)")):
    """The top snippets for the customer's latest question and a drafted answer with its sources.

    The draft comes from chat's own answer path and passes the same reply check; a stopped draft is not offered,
    `rejected` says what it was and why. Nothing is sent or stored; the agent posts the (edited) text to
    `POST /admin/conversations/{id}/messages`.
    """
    view = await run_in_threadpool(Inbox(services.sessions).get, conversation_id)
    return asdict(await run_in_threadpool(suggest, manager, view, draft))
