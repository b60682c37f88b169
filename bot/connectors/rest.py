"""Rasa's REST channel: `POST /webhooks/rest/webhook`, so existing Rasa front ends work unchanged.

`Authorization: Bearer <token>` proves the sender (bot/connectors/identity.py): a JWT for that sender, or the
shared secret of a server-side caller. Without it the message is answered, but the customer's stored personal
data is not read back; and a sender id that once came with proof is refused without it (403), so that nobody
writes into a signed-in customer's conversation by typing their id.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from bot.connectors.chat_input import MESSAGE_ID_DESCRIPTION, MESSAGE_ID_PATTERN, inbound
from bot.connectors.identity import Caller, ChatTokens, TokenRefused
from bot.deps import ManagerDep, SettingsDep
from bot.errors import stores_message_first
from bot.openapi import ErrorOut
from dialogue.manager import ReplyEvent, ReplyFailed
from dialogue.messages import Reply

CHANNEL = "rest"
router = APIRouter(prefix="/webhooks/rest", tags=["chat"])


class RestMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sender: str = Field(min_length=1, max_length=255, description="Stable id of the customer.")
    message: str = Field(description="What the customer wrote.")
    metadata: dict[str, Any] | None = Field(
        None, description="Stored with the message (bounded by HELPDESK_MAX_METADATA_BYTES). "
                          "`message_id` here works like the Idempotency-Key header.")


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
    payload: dict | None = Field(None, description="A custom action's `custom` (json_message) response")


class ButtonOut(BaseModel):
    title: str
    payload: str = Field(description="Send it back as the customer's message when the button is pressed.")


class RestReply(BaseModel):
    recipient_id: str
    text: str
    custom: ReplyCustom
    buttons: list[ButtonOut] | None = Field(None, description="Choices from a custom action, as Rasa sends them")
    image: str | None = Field(None, description="A picture's URL from a custom action")

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler):
        return {key: value for key, value in handler(self).items() if value is not None or key == "text"}


@router.get("/", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}  # Rasa front ends probe this


_STREAMED = {"application/x-ndjson": {
    "description": "With `?stream=true`: one RestReply per line, each sent when ready."}}
_IDENTITY_ERRORS = {
    401: {"model": ErrorOut, "description": "The token is wrong, expired or not a JWT of this bot (see `detail`)."},
    403: {"model": ErrorOut, "description": "The token is for another sender than `sender`, or `sender` has signed "
                                            "in before and the message carries no token."},
}


async def chat_caller(settings: SettingsDep, authorization: Annotated[str | None, Header(
        description="`Bearer <JWT>` whose `sub` is the sender, signed with HELPDESK_CHAT_JWT_SECRET, or `Bearer "
                    "<HELPDESK_CHAT_SHARED_SECRET>`. Without it the bot answers but reads no stored personal data "
                    "back.")] = None) -> Caller:
    # Async (a signature check, microseconds): on the event loop, messages keep their arrival order (bot/deps.py).
    try:
        return ChatTokens.from_settings(settings).from_header(authorization)
    except TokenRefused as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error), headers={"WWW-Authenticate": "Bearer"}) from None


@router.post("/webhook", response_model=list[RestReply], responses={200: {"content": _STREAMED}, **_IDENTITY_ERRORS})
@stores_message_first
async def webhook(
    body: RestMessage,
    manager: ManagerDep,
    settings: SettingsDep,
    caller: Annotated[Caller, Depends(chat_caller)],
    stream: Annotated[bool, Query(description="Send each reply as a JSON line as soon as it is ready, as "
                                              "Rasa does; the body is newline-delimited JSON.")] = False,
    idempotency_key: Annotated[str | None, Header(pattern=MESSAGE_ID_PATTERN,
                                                  description=MESSAGE_ID_DESCRIPTION)] = None,
) -> list[RestReply] | StreamingResponse:
    if caller.sender is not None and caller.sender != body.sender:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"The token is for sender {caller.sender!r}, not "
                                                       f"{body.sender!r}: send as that sender.")
    message = inbound(CHANNEL, body.sender, body.message, body.metadata, verified=caller.verified,
                      max_metadata_bytes=settings.max_metadata_bytes, message_id=idempotency_key)
    if stream:
        # Started (and checked) before the response begins, so a bad message is still a clean 4xx.
        events = await manager.respond_stream(message)
        return StreamingResponse(_json_lines(body.sender, events), media_type="application/x-ndjson",
                                 headers={"X-Accel-Buffering": "no"})
    replies = await manager.respond(message)
    return [rest_reply(body.sender, reply) for reply in replies]


async def _json_lines(sender: str, events: AsyncIterator[ReplyEvent]) -> AsyncIterator[str]:
    # Rasa's stream carries whole messages only; the LM's token deltas are for the website widget.
    try:
        async for event in events:
            if isinstance(event, Reply):
                yield rest_reply(sender, event).model_dump_json() + "\n"
    except ReplyFailed as error:
        # The status line is long gone: say it in the stream, the way the other lines are read.
        yield ErrorLine(error=str(error)).model_dump_json() + "\n"


class ErrorLine(BaseModel):
    error: str


def rest_reply(sender: str, reply: Reply) -> RestReply:
    """A neutral reply as Rasa's REST channel shows it, with our extras under `custom`."""
    return RestReply(
        recipient_id=sender,
        text=reply.text,
        custom=ReplyCustom(
            kind=reply.kind.value,
            sources=[SourceOut(id=source.id, title=source.title, kind=source.kind, url=source.url,
                               snippet=source.snippet) for source in reply.sources],
            conversation_id=reply.conversation_id,
            turn_id=reply.turn_id,
            payload=reply.custom,
        ),
        buttons=[ButtonOut(title=b.title, payload=b.payload) for b in reply.buttons] or None,
        image=reply.image,
    )
