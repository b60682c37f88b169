"""Rasa's REST channel: `POST /webhooks/rest/webhook`, so existing Rasa front ends work unchanged."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from bot.deps import ManagerDep
from dialogue.messages import InboundMessage, Reply

CHANNEL = "rest"
router = APIRouter(prefix="/webhooks/rest", tags=["chat"])


class RestMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sender: str = Field(min_length=1, max_length=255, description="Stable id of the customer.")
    message: str = Field(description="What the customer wrote.")
    metadata: dict[str, Any] | None = None


class SourceOut(BaseModel):
    id: int
    title: str
    kind: str | None = Field(None, description="faq | document; on generated replies")
    url: str | None = Field(None, description="page URL or file name of a document passage")
    snippet: str | None = Field(None, description="the text the reply cites as [n], n = position + 1")

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler):
        # Verbatim FAQ replies carry just id and title; the extra fields appear only when they say something.
        return {key: value for key, value in handler(self).items() if value is not None}


class ReplyCustom(BaseModel):
    kind: str = Field(description="faq | generated | fallback | handoff | action")
    sources: list[SourceOut]
    conversation_id: int
    turn_id: int = Field(description="The stored bot turn; send feedback on it to POST /feedback.")


class RestReply(BaseModel):
    recipient_id: str
    text: str
    custom: ReplyCustom


@router.get("/", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}  # Rasa front ends probe this


@router.post("/webhook", response_model=list[RestReply])
async def webhook(body: RestMessage, manager: ManagerDep) -> list[RestReply]:
    replies = await manager.respond(InboundMessage(CHANNEL, body.sender, body.message, body.metadata or {}))
    return [_to_rest(body.sender, reply) for reply in replies]


def _to_rest(sender: str, reply: Reply) -> RestReply:
    return RestReply(
        recipient_id=sender,
        text=reply.text,
        custom=ReplyCustom(
            kind=reply.kind.value,
            sources=[SourceOut(id=source.id, title=source.title, kind=source.kind, url=source.url,
                               snippet=source.snippet) for source in reply.sources],
            conversation_id=reply.conversation_id,
            turn_id=reply.turn_id,
        ),
    )
