"""A custom action's buttons on Slack (Block Kit) and Telegram (inline keyboards), and a press coming back
as the customer's message, against local servers speaking the platforms' APIs and a real action server."""

import json
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import create_app
from tests.platform_servers import SlackApiServer, TelegramApiServer
from tests.test_actions import FAILING, action_server, database, services, settings  # noqa: F401 (fixtures)
from tests.test_slack import BOT_TOKEN as SLACK_TOKEN, SIGNING_SECRET, TEAM, dm, envelope, signed
from tests.test_telegram import BOT_TOKEN as TELEGRAM_TOKEN, SECRET, chat_id, update

pytestmark = pytest.mark.integration
CRASH = FAILING["action_crash"][0]  # its apology carries a "Talk to a person" button


def test_slack_shows_buttons_as_blocks_and_a_press_is_the_customers_message(settings, services):
    api = SlackApiServer(SLACK_TOKEN).start()
    try:
        configured = settings.model_copy(update=dict(slack_signing_secret=SecretStr(SIGNING_SECRET),
                                                     slack_bot_token=SecretStr(SLACK_TOKEN), slack_api_url=api.url,
                                                     delivery_backoff_seconds=0.05))
        channel = f"D{int(time.time() * 1000)}"
        with TestClient(create_app(configured, services)) as client:
            body = json.dumps(envelope(dm(CRASH, channel))).encode()
            assert client.post("/webhooks/slack/webhook", content=body, headers=signed(body)).status_code == 200
            [apology] = [call.body for call in api.wait_for("chat.postMessage", 1)]
            assert apology["text"].startswith("I'm sorry")
            [button] = apology["blocks"][1]["elements"]
            assert (button["text"]["text"], button["value"]) == ("Talk to a person", "talk to a person")
            pressed = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0001"},
                       "channel": {"id": channel}, "message": {"ts": "1700000001.000100"},
                       "actions": [{"action_id": button["action_id"], "value": button["value"],
                                    "action_ts": f"{time.time():.6f}"}]}
            form = urlencode({"payload": json.dumps(pressed)}).encode()
            headers = signed(form) | {"content-type": "application/x-www-form-urlencoded"}
            started = time.monotonic()
            assert client.post("/webhooks/slack/webhook", content=form, headers=headers).status_code == 200
            assert time.monotonic() - started < 3  # Slack's acknowledgement deadline
            handoff = api.wait_for("chat.postMessage", 2)[1].body
            assert handoff["channel"] == channel and "member of our support team" in handoff["text"]
    finally:
        api.stop()


def test_telegram_shows_an_inline_keyboard_and_a_press_is_the_customers_message(settings, services):
    api = TelegramApiServer(TELEGRAM_TOKEN).start()
    try:
        configured = settings.model_copy(update=dict(telegram_bot_token=SecretStr(TELEGRAM_TOKEN),
                                                     telegram_secret_token=SecretStr(SECRET),
                                                     telegram_api_url=api.url, delivery_backoff_seconds=0.05))
        chat = chat_id()
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        with TestClient(create_app(configured, services)) as client:
            assert client.post("/webhooks/telegram/webhook", json=update(chat, CRASH), headers=headers).status_code == 200
            [apology] = [call.body for call in api.wait_for("sendMessage", 1)]
            keyboard = apology["reply_markup"]["inline_keyboard"]
            assert keyboard == [[{"text": "Talk to a person", "callback_data": "talk to a person"}]]
            query = {"update_id": chat_id(), "callback_query": {
                "id": "cb-1", "from": {"id": chat, "is_bot": False, "first_name": "Ann"}, "data": "talk to a person",
                "message": {"message_id": 5, "chat": {"id": chat, "type": "private"}, "date": int(time.time())}}}
            assert client.post("/webhooks/telegram/webhook", json=query, headers=headers).status_code == 200
            handoff = api.wait_for("sendMessage", 2)[1].body
            assert handoff["chat_id"] == chat and "member of our support team" in handoff["text"]
            assert api.calls_to("answerCallbackQuery")[0].body == {"callback_query_id": "cb-1"}
    finally:
        api.stop()
