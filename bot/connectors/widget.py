"""The website chat widget: its script and styles, a demo page, and the streaming chat endpoint.

One `<script src="https://BOT/widget.js" defer></script>` on any page adds the widget. It sends each message
to `POST /widget/messages` and reads the answer back as Server-Sent Events: `token` events while the LM
writes, then one `reply` event per reply (the same shape as the REST channel's replies). After a page
reload it shows the conversation again from `GET /widget/history`.
"""

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel, ConfigDict, Field

from bot.connectors.chat_input import MESSAGE_ID_DESCRIPTION, MESSAGE_ID_PATTERN, inbound
from bot.connectors.rest import ButtonOut, SourceOut, rest_reply
from bot.deps import KnowledgeDep, ManagerDep, ServicesDep, SettingsDep
from dialogue.history import open_conversation_id
from dialogue.language import normalise_code
from dialogue.inbox import Inbox
from dialogue.manager import ReplyEvent, ReplyFailed, TextDelta
from dialogue.messages import Source
from retrieval.errors import FaqNotFound

CHANNEL = "widget"
STATIC = Path(__file__).resolve().parent.parent / "static"
# The widget makes a random 128-bit id and keeps it in localStorage; requiring that shape keeps the
# history endpoint from answering for short, guessable ids.
SENDER_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
HISTORY_TURNS = 200  # the most a reloaded widget shows

router = APIRouter(tags=["widget"])
SenderField = Field(pattern=SENDER_PATTERN, description="The widget's random id: 16-64 of A-Z a-z 0-9 _ -.")


class WidgetMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sender: str = SenderField
    message: str = Field(description="What the customer wrote.")
    metadata: dict[str, Any] | None = Field(None, description="Stored with the message (bounded by "
                                                               "HELPDESK_MAX_METADATA_BYTES).")
    client_message_id: str | None = Field(None, pattern=MESSAGE_ID_PATTERN, description=MESSAGE_ID_DESCRIPTION)


class TokenOut(BaseModel):
    text: str


class ErrorOut(BaseModel):
    detail: str


class PastTurnOut(BaseModel):
    turn_id: int
    role: str = Field(description="user | bot | agent")
    text: str
    kind: str = Field(description="user turns: message; bot turns: faq | generated | fallback | handoff | "
                                   "action; agent turns: agent")
    sources: list[SourceOut]
    feedback: int | None = Field(description="1 thumbs up, -1 thumbs down (bot turns)")
    buttons: list[ButtonOut] = Field(default_factory=list, description="a custom action's choices")
    image: str | None = Field(None, description="a custom action's picture URL")


class StringsOut(BaseModel):
    language: str = Field(description="The language the texts are in: the one asked for, else the default.")
    strings: dict[str, str] = Field(description="The widget's own texts (the catalogue's widget_* texts, without "
                                                "the prefix).")


class HistoryOut(BaseModel):
    conversation_id: int | None
    status: str = Field(description="bot | handoff (waiting for a person) | none (no open conversation)")
    turns: list[PastTurnOut]


@router.post("/widget/messages", responses={200: {"content": {"text/event-stream": {}}, "description": (
    "Server-Sent Events: `token` ({text}) while the LM writes, then `reply` (a RestReply) per reply; "
    "`error` ({detail}) if answering failed after the message was accepted.")}})
async def send_message(body: WidgetMessage, manager: ManagerDep, settings: SettingsDep) -> EventSourceResponse:
    # Verified: the widget's id is 128 random bits its browser keeps, so whoever sends with it is the customer
    # who made it (docs/channels.md, "Verified senders").
    message = inbound(CHANNEL, body.sender, body.message, body.metadata, verified=True,
                      max_metadata_bytes=settings.max_metadata_bytes, message_id=body.client_message_id)
    # Checked and started before the response begins, so a bad message is still a clean 4xx.
    events = await manager.respond_stream(message)
    return EventSourceResponse(_server_sent(body.sender, events), headers={"X-Accel-Buffering": "no"})


async def _server_sent(sender: str, events: AsyncIterator[ReplyEvent]) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                yield _sse("token", TokenOut(text=event.text))
            else:
                yield _sse("reply", rest_reply(sender, event))
    except ReplyFailed as error:
        yield _sse("error", ErrorOut(detail=str(error)))


def _sse(event: str, data: BaseModel) -> bytes:
    return format_sse_event(data_str=data.model_dump_json(), event=event)


@router.get("/widget/history", response_model=HistoryOut)
def history(sender: Annotated[str, Query(pattern=SENDER_PATTERN)], services: ServicesDep) -> HistoryOut:
    """The sender's open conversation on the widget, oldest turn first, so a reloaded page shows it again.

    The widget also polls it while a person has the conversation, to show the agent's answers.
    """
    conversation_id = open_conversation_id(services.sessions, CHANNEL, sender)
    if conversation_id is None:
        return HistoryOut(conversation_id=None, status="none", turns=[])
    view = Inbox(services.sessions).get(conversation_id)
    return HistoryOut(conversation_id=view.id, status=view.status, turns=[
        PastTurnOut(turn_id=turn.id, role=turn.role, text=turn.text, kind=turn.kind, feedback=turn.feedback,
                    sources=[SourceOut(id=source.id, title=source.title)
                             for source in map(Source.from_record, turn.sources)],
                    buttons=[ButtonOut(**button) for button in (turn.extras or {}).get("buttons", [])],
                    image=(turn.extras or {}).get("image"))
        for turn in view.turns[-HISTORY_TURNS:]
    ])


@router.get("/widget/strings", response_model=StringsOut)
def strings(manager: ManagerDep,
            lang: Annotated[str, Query(max_length=35, description="A language tag: de, zh-CN.")] = "") -> StringsOut:
    """The widget's texts in the page's language (data-lang, else the browser's), from the message catalogue."""
    phrases = manager.catalogue.phrases(normalise_code(lang))
    return StringsOut(language=phrases.language,
                      strings={key.removeprefix("widget_"): text for key, text in phrases.texts("widget_").items()})


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> FileResponse:
    return FileResponse(STATIC / "widget.js", media_type="text/javascript", headers=_SHORT_CACHE)


@router.get("/widget.css", include_in_schema=False)
def widget_styles() -> FileResponse:
    return FileResponse(STATIC / "widget.css", media_type="text/css", headers=_SHORT_CACHE)


@router.get("/", include_in_schema=False)
def demo_page(settings: SettingsDep) -> HTMLResponse:
    return HTMLResponse(_page("demo.html", company=settings.company_name))


@router.get("/widget/faqs/{faq_id}", include_in_schema=False)
def faq_page(faq_id: int, knowledge: KnowledgeDep, settings: SettingsDep) -> HTMLResponse:
    """The public page a source link in the widget opens: one FAQ, question and answer."""
    try:
        faq = knowledge.get(faq_id)
    except FaqNotFound:
        return HTMLResponse(_page("faq.html", company=settings.company_name, question="Not found",
                                  answer_html="<p>This answer no longer exists.</p>"), status_code=404)
    return HTMLResponse(_page("faq.html", company=settings.company_name, question=faq.question,
                              answer_html=_paragraphs(faq.answer)))


_SHORT_CACHE = {"Cache-Control": "public, max-age=300"}  # a bot upgrade reaches pages within minutes


def _page(name: str, **values: str) -> str:
    """Fill a page from bot/static; values are escaped, except `*_html` ones, which are built escaped."""
    safe = {key: value if key.endswith("_html") else html.escape(value) for key, value in values.items()}
    return Template((STATIC / name).read_text(encoding="utf-8")).substitute(safe)


def _paragraphs(text: str) -> str:
    parts = [part for part in re.split(r"\n\s*\n", text.strip()) if part.strip()]
    return "".join(f"<p>{html.escape(part)}</p>" for part in parts)
