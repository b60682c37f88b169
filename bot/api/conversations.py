"""Admin API for agents: the handoff inbox, transcripts, agent replies, handing back to the bot."""

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import ServicesDep, require_admin
from bot.openapi import Timestamp
from dialogue.inbox import ConversationView, Inbox
from dialogue.messages import TurnRole
from dialogue.records import ConversationStatus

router = APIRouter(prefix="/admin/conversations", tags=["admin"], dependencies=[Depends(require_admin)])


class TurnOut(BaseModel):
    id: int
    role: TurnRole
    text: str
    kind: str
    sources: list
    feedback: int | None
    created_at: Timestamp
    rejected_reply: dict | None = Field(None, description="a generated reply the check stopped before it was "
                                                          "sent: {\"text\", \"reasons\"}; `text` is what was "
                                                          "sent instead")
    action: dict | None = Field(None, description="the action server call this bot turn answered: {action, status "
                                                  "(ok | failed), error_kind, error, http_status, duration_ms}")
    extras: dict | None = Field(None, description="buttons, image and custom payload a custom action sent")


class DeliveryOut(BaseModel):
    status: Literal["queued", "polled", "stored", "not_sent"] = Field(
        description="queued: being sent to Slack/Telegram; polled: the widget fetches it; stored: the channel "
                    "cannot be written to first; not_sent: the channel is off or has no place to write to.")
    detail: str


class AgentReplyOut(TurnOut):
    delivery: DeliveryOut


class ConversationOut(BaseModel):
    id: int
    channel: str
    sender_ids: list[str]
    status: ConversationStatus
    customer_name: str | None
    customer_email: str | None
    started_at: Timestamp
    last_activity_at: Timestamp
    turns: list[TurnOut]
    language: str | None = Field(None, description="The language the customer writes in (ISO 639-1), detected "
                                                   "or set by the page; docs/languages.md.")

    @classmethod
    def of(cls, view: ConversationView) -> "ConversationOut":
        return cls(**{**view.__dict__, "turns": [TurnOut(**turn.__dict__) for turn in view.turns]})


class ConversationPage(BaseModel):
    data: list[ConversationOut]
    count: int


class AgentMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20000)
    agent: str = Field("agent", min_length=1, max_length=100, description="Who answers, for the record.")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ConversationStatus


def get_inbox(services: ServicesDep) -> Inbox:
    return Inbox(services.sessions)


@router.get("", response_model=ConversationPage)
def list_conversations(inbox: Inbox = Depends(get_inbox),
                       status_filter: ConversationStatus | None = Query(None, alias="status"),
                       offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500)):
    views, count = inbox.page(status_filter, offset, limit)
    return ConversationPage(data=[ConversationOut.of(view) for view in views], count=count)


@router.get("/{conversation_id}", response_model=ConversationOut)
def get_conversation(conversation_id: int, inbox: Inbox = Depends(get_inbox)):
    return ConversationOut.of(inbox.get(conversation_id))


@router.post("/{conversation_id}/messages", response_model=AgentReplyOut, status_code=status.HTTP_201_CREATED)
async def reply_as_agent(conversation_id: int, body: AgentMessage, request: Request,
                         inbox: Inbox = Depends(get_inbox)):
    """Stored first; then pushed to Slack or Telegram in the background (the widget polls for it)."""
    text = request.app.state.services.manager.privacy.scrub(body.text.strip())  # card numbers never stored
    turn, channel = await run_in_threadpool(inbox.reply_as_agent, conversation_id, body.agent, text)
    relay = await request.app.state.channels.relay_agent_reply(channel, conversation_id, turn.id, turn.text)
    return AgentReplyOut(**turn.__dict__, delivery=DeliveryOut(**relay.__dict__))


@router.put("/{conversation_id}/status", response_model=ConversationOut)
def change_status(conversation_id: int, body: StatusChange, inbox: Inbox = Depends(get_inbox)):
    return ConversationOut.of(inbox.set_status(conversation_id, body.status))
