"""Telegram Bot API webhooks: `POST /webhooks/telegram/webhook`, answered with sendMessage.

Telegram sends the secret given to setWebhook in X-Telegram-Bot-Api-Secret-Token; a request without it
is refused before anything is read. One conversation per chat; updates are deduplicated by update_id.
"""

import logging
import re
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from bot.connectors.delivery import DeliveryFailed, split_text
from bot.connectors.pipeline import ChannelPipeline, Ignored, PlatformEvent
from bot.connectors.webhooks import decode_utf8, parse_json_object, read_body
from dialogue.messages import InboundMessage

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_PART_CHARS = 4096  # sendMessage's limit, in UTF-16 code units
WEBHOOK_PATH = "/webhooks/telegram/webhook"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
_COMMAND = re.compile(r"^/(\w+)(@\w+)?(\s.*)?$", re.S)

NOT_TEXT_TEXT = "Sorry, I can only read text messages. Please type your question and I'll do my best to help."

router = APIRouter(prefix="/webhooks/telegram", tags=["channels"])


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class TelegramApi:
    """The few Bot API methods the bot uses, over httpx; the base URL is a setting for local test servers."""

    def __init__(self, token: str, api_url: str, timeout: float = 15.0):
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def call(self, method: str, payload: dict[str, Any]) -> Any:
        """The method's `result`; raises `DeliveryFailed` saying whether a retry can help."""
        if self._client is None:  # created in the running loop; each app lifespan gets its own
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._client.post(self._base + method, json=payload)
        except httpx.TransportError as error:
            raise DeliveryFailed(f"cannot reach the Telegram Bot API: {error!r}") from error
        return _result(method, response)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _result(method: str, response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if response.status_code == 200 and body.get("ok"):
        return body.get("result")
    description = body.get("description") or f"HTTP {response.status_code}"
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    if response.status_code == 429 or body.get("error_code") == 429:
        retry_after = _seconds(parameters.get("retry_after") or response.headers.get("retry-after"))
        raise DeliveryFailed(f"Telegram {method} rate limit: {description}", retry_after=retry_after or 1.0)
    if response.status_code >= 500:
        raise DeliveryFailed(f"Telegram {method} failed: {description}")
    raise DeliveryFailed(f"Telegram refused {method}: {description}", permanent=True)


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


class TelegramPlatform:
    def __init__(self, api: TelegramApi):
        self.api = api

    def split(self, text: str) -> list[str]:
        return split_text(text, MAX_PART_CHARS, measure=_utf16_length)

    async def send(self, target: Mapping[str, Any], text: str) -> None:
        payload: dict[str, Any] = {"chat_id": target["chat_id"], "text": text}  # plain text: no parse errors
        if target.get("message_thread_id") is not None:
            payload["message_thread_id"] = target["message_thread_id"]
        if target.get("reply_to") is not None:
            payload["reply_parameters"] = {"message_id": target["reply_to"],
                                           "allow_sending_without_reply": True}
        if target.get("buttons"):
            payload["reply_markup"] = inline_keyboard(target["buttons"])
        await self.api.call("sendMessage", payload)


def inline_keyboard(buttons: list[dict[str, str]]) -> dict[str, Any]:
    """A custom action's buttons, one per row. Telegram's callback_data holds 64 bytes: a longer payload is
    replaced by the button's title, which then comes back as the customer's message."""
    def data(button: dict[str, str]) -> str:
        payload = button["payload"] if len(button["payload"].encode()) <= 64 else button["title"]
        return payload.encode()[:64].decode(errors="ignore")

    return {"inline_keyboard": [[{"text": button["title"] or "…", "callback_data": data(button)}]
                                for button in buttons]}


class TelegramConnector:
    def __init__(self, secret_token: str, platform: TelegramPlatform, pipeline: ChannelPipeline,
                 company: str):
        self.secret_token = secret_token
        self.platform = platform
        self.pipeline = pipeline
        self.welcome = (f"Hello! I'm the {company} assistant. Ask me anything about our products, orders "
                        'or your account, and say "talk to a person" whenever you want a human.')

    async def handle(self, request: Request) -> Response:
        self._verify(request.headers.get(SECRET_HEADER))
        update = parse_json_object(decode_utf8(await read_body(request)))
        converted = to_platform_event(update, self.welcome)
        if isinstance(converted, Ignored):
            log.info("telegram: ignored update %s: %s", update.get("update_id"), converted.reason)
        else:
            await self.pipeline.accept(self.platform, converted)
            query = update.get("callback_query")
            if isinstance(query, dict) and isinstance(query.get("id"), str):
                await self._stop_spinner(query["id"])  # a press of one of our buttons, taken
        return Response(status_code=200)

    async def _stop_spinner(self, query_id: str) -> None:
        """Telegram shows a spinner on a pressed button until the bot answers the callback query."""
        try:
            await self.platform.api.call("answerCallbackQuery", {"callback_query_id": query_id})
        except DeliveryFailed as error:
            log.warning("telegram: could not answer callback query %s: %s", query_id, error)

    def _verify(self, sent: str | None) -> None:
        if not sent:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "Missing X-Telegram-Bot-Api-Secret-Token header: register the webhook with "
                                "`helpdesk telegram set-webhook` so Telegram sends it.")
        if not secrets.compare_digest(sent.encode(), self.secret_token.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                "X-Telegram-Bot-Api-Secret-Token does not match "
                                "HELPDESK_TELEGRAM_SECRET_TOKEN.")


def to_platform_event(update: dict[str, Any], welcome: str) -> PlatformEvent | Ignored:
    """Turn an update into the neutral event, or say why it is not for the bot."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "A Telegram update needs an integer `update_id`.")
    if isinstance(update.get("callback_query"), dict):
        return _pressed_button(update_id, update["callback_query"])
    edited = "message" not in update and "edited_message" in update
    message = update.get("edited_message" if edited else "message")
    if message is None:
        kinds = sorted(key for key in update if key != "update_id")
        return Ignored(f"update type {', '.join(kinds) or '(none)'} is not handled")
    if not isinstance(message, dict):
        return Ignored("`message` is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        return Ignored("the message has no chat id")
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    if sender.get("is_bot"):
        return Ignored("sent by a bot")
    message_id = message.get("message_id") if isinstance(message.get("message_id"), int) else None
    # A forum topic is its own thread; answering outside it would land in "General".
    topic = message.get("message_thread_id") if message.get("is_topic_message") else None
    target = {"chat_id": chat["id"], "reply_to": message_id, "message_thread_id": topic}
    common = dict(channel=CHANNEL, keys=[f"update:{update_id}"], target=target,
                  description=f"update {update_id}")
    text = message.get("text")
    if not isinstance(text, str):
        return PlatformEvent(notice=NOT_TEXT_TEXT, **common)
    command = _COMMAND.match(text.strip())
    if command and command.group(1) == "start":
        return PlatformEvent(notice=welcome, **common)
    if command:  # "/restart@NimbusBot" in a group means "/restart"
        text = f"/{command.group(1)}{command.group(3) or ''}"
    metadata = {"telegram_user_id": sender.get("id"), "telegram_username": sender.get("username"),
                "telegram_chat_type": chat.get("type"), "telegram_message_id": message_id,
                "edited": edited}
    return PlatformEvent(message=InboundMessage(CHANNEL, str(chat["id"]), text, metadata), **common)


def _pressed_button(update_id: int, query: dict[str, Any]) -> PlatformEvent | Ignored:
    """A press of one of the bot's inline buttons: its callback_data is the customer's message (Rasa's
    payload convention), in the chat the button was shown in."""
    message = query.get("message") if isinstance(query.get("message"), dict) else {}
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    data = query.get("data")
    if not isinstance(chat.get("id"), int) or not isinstance(data, str) or not data:
        return Ignored("a callback query without a chat or data")
    sender = query.get("from") if isinstance(query.get("from"), dict) else {}
    topic = message.get("message_thread_id") if message.get("is_topic_message") else None
    return PlatformEvent(
        channel=CHANNEL, keys=[f"update:{update_id}"],
        target={"chat_id": chat["id"], "reply_to": None, "message_thread_id": topic},
        message=InboundMessage(CHANNEL, str(chat["id"]), data, {"telegram_user_id": sender.get("id"),
                                                                "telegram_chat_type": chat.get("type"),
                                                                "button": True}),
        description=f"update {update_id} (button)")


async def set_webhook(api: TelegramApi, public_url: str, secret_token: str) -> str:
    """Register `public_url` (the bot's base URL or the full webhook URL) and return the webhook URL."""
    url = public_url.rstrip("/")
    if not url.endswith(WEBHOOK_PATH):
        url += WEBHOOK_PATH
    await api.call("setWebhook", {"url": url, "secret_token": secret_token,
                                  "allowed_updates": ["message", "edited_message"]})
    return url


async def get_telegram(request: Request) -> TelegramConnector:
    channels = request.app.state.channels
    if channels.telegram is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"The Telegram channel is off: set {' and '.join(channels.telegram_missing)} "
                            "and restart the bot (see docs/channels.md).")
    return channels.telegram


@router.post("/webhook", summary="Telegram Bot API webhook")
async def webhook(request: Request,
                  telegram: Annotated[TelegramConnector, Depends(get_telegram)]) -> Response:
    return await telegram.handle(request)
