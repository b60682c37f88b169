"""Slack Events API: `POST /webhooks/slack/webhook`, answered in the thread with chat.postMessage.

The request is verified with slack_sdk's `SignatureVerifier` (HMAC of the raw body, 5-minute window),
acknowledged after one dedup insert, and answered in the background; Slack's 3-second limit never
waits on the LM. One conversation per thread (in channels) or per direct-message channel.
"""

import asyncio
import html
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs

import aiohttp
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.connectors.delivery import DeliveryFailed, split_text
from bot.connectors.pipeline import ChannelPipeline, Ignored, PlatformEvent
from bot.connectors.webhooks import decode_utf8, parse_json_object, read_body
from dialogue.messages import InboundMessage

log = logging.getLogger(__name__)

CHANNEL = "slack"
# chat.postMessage truncates text past 40,000 characters and Slack advises staying under 4,000.
MAX_PART_CHARS = 4000
SIGNATURE_WINDOW_SECONDS = 5 * 60
HANDLED_SUBTYPES = {None, "thread_broadcast", "file_share"}  # a person's message with text
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
CHOICE_ACTION = "helpdesk_choice_"  # action_id prefix of the buttons the bot posts
_MENTION = re.compile(r"<@([A-Z0-9]+)(\|[^>]*)?>")

router = APIRouter(prefix="/webhooks/slack", tags=["channels"])


def escape(text: str) -> str:
    # Slack reads <...> as links and mentions; these three must be escaped in message text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackPlatform:
    """Sends with the Web API's chat.postMessage; the base URL is a setting so tests use a local server."""

    def __init__(self, token: str, api_url: str):
        # No slack_sdk retry handlers: ReplyDelivery retries, honours Retry-After and records each attempt.
        self.client = AsyncWebClient(token=token, base_url=api_url, retry_handlers=[], timeout=15,
                                     logger=_quiet_sdk_log())

    def split(self, text: str) -> list[str]:
        return split_text(text, MAX_PART_CHARS, measure=lambda part: len(escape(part)))

    async def send(self, target: Mapping[str, Any], text: str) -> None:
        blocks = choice_blocks(escape(text), target["buttons"]) if target.get("buttons") else None
        try:
            await self.client.chat_postMessage(channel=target["channel"], thread_ts=target.get("thread_ts"),
                                               text=escape(text), blocks=blocks)
        except SlackApiError as error:
            raise _delivery_failure(error) from error
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise DeliveryFailed(f"cannot reach the Slack API: {error!r}") from error


def choice_blocks(text: str, buttons: list[dict[str, str]]) -> list[dict[str, Any]]:
    """A custom action's buttons as Block Kit: the text, then one button per choice carrying its payload."""
    elements = [{"type": "button", "action_id": f"{CHOICE_ACTION}{index}", "value": button["payload"][:2000],
                 "text": {"type": "plain_text", "text": button["title"][:75] or "…"}}
                for index, button in enumerate(buttons[:25])]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}  # Block Kit's limit
    return [section, {"type": "actions", "elements": elements}]


def _delivery_failure(error: SlackApiError) -> DeliveryFailed:
    response = error.response
    code = response.data.get("error") if isinstance(response.data, dict) else None
    if response.status_code == 429 or code == "ratelimited":
        retry_after = _seconds(response.headers.get("Retry-After")) if response.headers else None
        return DeliveryFailed(f"Slack rate limit (HTTP {response.status_code})",
                              retry_after=retry_after or 1.0)
    if response.status_code >= 500 or code in TRANSIENT_ERRORS:
        return DeliveryFailed(f"Slack API error: HTTP {response.status_code} {code or ''}".strip())
    return DeliveryFailed(f"Slack refused the message: {code or f'HTTP {response.status_code}'}",
                          permanent=True)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class SlackMessage:
    event: PlatformEvent
    only_in_known_thread: bool  # a channel thread reply without a mention: answer only threads we are in


class SlackConnector:
    def __init__(self, signing_secret: str, platform: SlackPlatform, pipeline: ChannelPipeline):
        self.verifier = SignatureVerifier(signing_secret)
        self.platform = platform
        self.pipeline = pipeline

    async def handle(self, request: Request) -> Response:
        body = decode_utf8(await read_body(request))
        self._verify(body, request.headers)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            await self._interaction(body)  # a pressed button (the app's Interactivity request URL)
            return Response(status_code=200)
        payload = parse_json_object(body)
        kind = payload.get("type")
        if kind == "url_verification":
            challenge = payload.get("challenge")
            if not isinstance(challenge, str):
                raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                    "url_verification without a `challenge` string.")
            return Response(challenge, media_type="text/plain")
        if kind == "event_callback":
            await self._accept(payload)
        else:
            log.info("slack: ignored a payload of type %r", kind)
        # A retry means Slack thinks we missed the 3 s deadline; either way it now has its answer.
        retried = "x-slack-retry-num" in request.headers
        return Response(status_code=200, headers={"X-Slack-No-Retry": "1"} if retried else None)

    def _verify(self, body: str, headers: Mapping[str, str]) -> None:
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            _unauthorized("missing X-Slack-Signature or X-Slack-Request-Timestamp header")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            _unauthorized("X-Slack-Request-Timestamp is not within 5 minutes of now "
                          "(a replay, or a wrong clock)")
        if not self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            _unauthorized("X-Slack-Signature does not match the body signed with "
                          "HELPDESK_SLACK_SIGNING_SECRET")

    async def _interaction(self, body: str) -> None:
        fields = parse_qs(body)
        payload = parse_json_object(fields["payload"][0]) if fields.get("payload") else None
        if payload is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "An interaction needs a `payload` form field.")
        converted = to_pressed_button(payload)
        if isinstance(converted, Ignored):
            log.info("slack: ignored an interaction: %s", converted.reason)
            return
        await self.pipeline.accept(self.platform, converted)

    async def _accept(self, payload: dict[str, Any]) -> None:
        converted = to_slack_message(payload)
        if isinstance(converted, Ignored):
            log.info("slack: ignored event %s: %s", payload.get("event_id"), converted.reason)
            return
        event = converted.event
        if converted.only_in_known_thread and not await self.pipeline.ledger.knows_sender(
                CHANNEL, event.message.sender_id):
            log.debug("slack: ignored a reply in a thread the bot is not part of")
            return
        await self.pipeline.accept(self.platform, event)


def _unauthorized(reason: str) -> None:
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"Slack request not verified: {reason}.")


def to_slack_message(payload: dict[str, Any]) -> SlackMessage | Ignored:
    """Turn a verified `event_callback` into the neutral event, or say why it is not for the bot."""
    team, event_id, event = payload.get("team_id"), payload.get("event_id"), payload.get("event")
    if not isinstance(team, str) or not isinstance(event_id, str) or not isinstance(event, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            "event_callback needs `team_id` and `event_id` strings and an `event` object.")
    kind, subtype = event.get("type"), event.get("subtype")
    if kind not in ("message", "app_mention"):
        return Ignored(f"event type {kind!r} is not handled")
    bot_users = _bot_user_ids(payload)
    if event.get("bot_id") or subtype == "bot_message" or event.get("user") in bot_users:
        return Ignored("sent by a bot (this one or another)")
    if subtype not in HANDLED_SUBTYPES:
        return Ignored(f"message subtype {subtype!r} is not a new message")
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not all(isinstance(value, str) and value for value in (user, channel, ts)):
        return Ignored("the event lacks `user`, `channel` or `ts`")
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
    direct = event.get("channel_type") == "im"
    if kind == "message" and not direct and thread_ts is None:
        # In channels the bot answers mentions (they arrive as app_mention) and threads it already joined.
        return Ignored("a channel message not addressed to the bot")
    sender = f"{team}:{channel}" if direct else f"{team}:{channel}:{thread_ts or ts}"
    text = event.get("text") if isinstance(event.get("text"), str) else ""
    metadata = {"slack_user": user, "slack_team": team, "slack_channel": channel, "slack_ts": ts,
                "slack_event_id": event_id}
    event = PlatformEvent(
        channel=CHANNEL,
        # An @-mention in a thread arrives twice (app_mention and message): the message key catches that.
        keys=[f"event:{event_id}", f"message:{team}:{channel}:{ts}"],
        target={"channel": channel, "thread_ts": thread_ts or (None if direct else ts)},
        message=InboundMessage(CHANNEL, sender, _plain_text(text, bot_users), metadata),
        description=f"event {event_id}",
    )
    return SlackMessage(event, only_in_known_thread=kind == "message" and not direct)


def to_pressed_button(payload: dict[str, Any]) -> PlatformEvent | Ignored:
    """A `block_actions` interaction on one of the bot's choice buttons, as the customer's message: the
    button's payload (Rasa's convention), from the same sender as the conversation it was pressed in."""
    if payload.get("type") != "block_actions":
        return Ignored(f"interaction type {payload.get('type')!r} is not handled")
    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)
               and str(a.get("action_id", "")).startswith(CHOICE_ACTION) and isinstance(a.get("value"), str)]
    team = (payload.get("team") or {}).get("id")
    user = (payload.get("user") or {}).get("id")
    channel = (payload.get("channel") or {}).get("id")
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    if not actions or not all(isinstance(value, str) and value for value in (team, user, channel)):
        return Ignored("not a press of the bot's choice buttons, or no team, user or channel")
    action = actions[0]
    thread_ts = message.get("thread_ts") or message.get("ts")
    direct = channel.startswith("D")
    sender = f"{team}:{channel}" if direct else f"{team}:{channel}:{thread_ts}"
    pressed = str(action.get("action_ts") or payload.get("trigger_id") or time.time())
    return PlatformEvent(
        channel=CHANNEL, keys=[f"action:{team}:{channel}:{pressed}"],
        target={"channel": channel, "thread_ts": None if direct else thread_ts},
        message=InboundMessage(CHANNEL, sender, action["value"], {"slack_user": user, "slack_team": team,
                                                                  "slack_channel": channel, "button": True}),
        description=f"button {action.get('action_id')} pressed by {user}",
    )


def _bot_user_ids(payload: dict[str, Any]) -> set[str]:
    authorizations = payload.get("authorizations")
    if not isinstance(authorizations, list):
        return set()
    return {item["user_id"] for item in authorizations
            if isinstance(item, dict) and isinstance(item.get("user_id"), str)}


def _plain_text(text: str, bot_users: set[str]) -> str:
    """Drop mentions of the bot and undo Slack's escaping, so the dialogue sees what the person wrote."""
    without_bot = _MENTION.sub(lambda match: "" if match.group(1) in bot_users else match.group(0), text)
    return html.unescape(without_bot).strip()


def _quiet_sdk_log() -> logging.Logger:
    """slack_sdk logs every request body at DEBUG: replies can hold what a customer gave as their own
    (docs/privacy.md), and no log line may. Its failures still reach the log as warnings and errors."""
    sdk_log = logging.getLogger("bot.connectors.slack.sdk")
    sdk_log.setLevel(logging.INFO)
    return sdk_log


async def get_slack(request: Request) -> SlackConnector:
    channels = request.app.state.channels
    if channels.slack is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"The Slack channel is off: set {' and '.join(channels.slack_missing)} "
                            "and restart the bot (see docs/channels.md).")
    return channels.slack


@router.post("/webhook", summary="Slack Events API request URL")
async def webhook(request: Request, slack: Annotated[SlackConnector, Depends(get_slack)]) -> Response:
    return await slack.handle(request)
