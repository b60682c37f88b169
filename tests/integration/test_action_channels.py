"""A custom action's buttons on Slack (Block Kit) and Telegram (inline keyboards), and a press coming back
as the customer's message, against local servers speaking the platforms' APIs and a real action server."""

import json
import time
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import create_app
from tests.support.platform_servers import SlackApiServer, TelegramApiServer
from tests.integration.test_actions import (  # noqa: F401 (fixtures)
    FAILING, action_server, actions_module, database, services, settings,
)
from tests.integration.test_slack import BOT_TOKEN as SLACK_TOKEN, SIGNING_SECRET, TEAM, dm, envelope, signed
from tests.integration.test_telegram import BOT_TOKEN as TELEGRAM_TOKEN, SECRET, chat_id, update

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


TELEGRAM_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@contextmanager
def telegram(settings, services):
    """The app with Telegram configured against a local server speaking the Bot API: (client, that server)."""
    api = TelegramApiServer(TELEGRAM_TOKEN).start()
    try:
        configured = settings.model_copy(update=dict(telegram_bot_token=SecretStr(TELEGRAM_TOKEN),
                                                     telegram_secret_token=SecretStr(SECRET),
                                                     telegram_api_url=api.url, delivery_backoff_seconds=0.05))
        with TestClient(create_app(configured, services)) as client:
            yield client, api
    finally:
        api.stop()


def press(chat: int, data: str, query_id: str) -> dict:
    """The callback query Telegram sends when the customer presses an inline button."""
    return {"update_id": chat_id(), "callback_query": {
        "id": query_id, "from": {"id": chat, "is_bot": False, "first_name": "Ann"}, "data": data,
        "message": {"message_id": 5, "chat": {"id": chat, "type": "private"}, "date": int(time.time())}}}


def test_telegram_shows_an_inline_keyboard_and_a_press_is_the_customers_message(settings, services):
    chat = chat_id()
    with telegram(settings, services) as (client, api):
        assert client.post("/webhooks/telegram/webhook", json=update(chat, CRASH),
                           headers=TELEGRAM_HEADERS).status_code == 200
        [apology] = [call.body for call in api.wait_for("sendMessage", 1)]
        keyboard = apology["reply_markup"]["inline_keyboard"]
        assert keyboard == [[{"text": "Talk to a person", "callback_data": "talk to a person"}]]
        assert client.post("/webhooks/telegram/webhook", json=press(chat, "talk to a person", "cb-1"),
                           headers=TELEGRAM_HEADERS).status_code == 200
        handoff = api.wait_for("sendMessage", 2)[1].body
        assert handoff["chat_id"] == chat and "member of our support team" in handoff["text"]
        assert api.calls_to("answerCallbackQuery")[0].body == {"callback_query_id": "cb-1"}


def test_telegram_shows_a_fallbacks_suggestions_and_a_press_gets_that_faqs_answer(settings, services):
    chat = chat_id()
    unsure = "Can I give my cleaner limited access to the app?"  # ("repair my thermostat" starts an action here)
    with telegram(settings, services) as (client, api):
        assert client.post("/webhooks/telegram/webhook", json=update(chat, unsure),
                           headers=TELEGRAM_HEADERS).status_code == 200
        [suggested] = [call.body for call in api.wait_for("sendMessage", 1)]
        assert suggested["text"].startswith("I'm not sure I understood. Is your question one of these?")
        rows = suggested["reply_markup"]["inline_keyboard"]
        sharing = next(row[0] for row in rows
                       if row[0]["text"] == "How do I share access to my home with family members?")
        assert sharing["callback_data"].startswith('/faq{"id": ') and rows[-1][0]["text"] == "Talk to a person"
        assert client.post("/webhooks/telegram/webhook", json=press(chat, sharing["callback_data"], "cb-2"),
                           headers=TELEGRAM_HEADERS).status_code == 200
        answer = api.wait_for("sendMessage", 2)[1].body
        assert answer["chat_id"] == chat and answer["text"].startswith("In the Nimbus app open Home > Members")
        assert "reply_markup" not in answer


def test_the_widget_shows_buttons_and_an_image_and_a_press_answers(settings, services):
    from tests.support.live_server import live_server
    from tests.integration.test_widget_browser import (CHROMIUM, CHROMIUM_FLAGS, send, unavailable, wait_for_answer,
                                                       widget)

    if not CHROMIUM.exists():
        unavailable("Debian's chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with live_server(create_app(settings, services)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.goto(url + "/")
            page.wait_for_selector("#helpdesk-widget[data-ready='true']", state="attached")
            widget(page).locator(".hd-launcher").click()
            send(page, "where is my order NH-1234?")
            wait_for_answer(page, 1)
            assert "email" in widget(page).locator(".hd-bot .hd-text").last.inner_text()
            send(page, "dana@example.com")
            wait_for_answer(page, 3)
            status = widget(page).locator(".hd-bot").nth(1)
            assert status.locator(".hd-text").inner_text().startswith("Order NH-1234 (for dana@example.com)")
            assert widget(page).locator(".hd-bot").nth(2).locator("img.hd-image").get_attribute("src") == \
                "https://shop.example/track.png"
            status.locator(".hd-choice", has_text="Cancel this order").click()
            wait_for_answer(page, 5)
            shown = widget(page).locator(".hd-user").last.inner_text()
            assert shown.endswith("Cancel this order") and "/cancel" not in shown  # the title; the payload was sent
            texts = [node.inner_text() for node in widget(page).locator(".hd-bot .hd-text").all()]
            assert texts[-2:] == ["Order NH-1234 is cancelled.", "Your refund starts today."]
            assert status.locator(".hd-choice").is_disabled()
            page.reload()  # the history brings the buttons back
            page.wait_for_selector("#helpdesk-widget[data-ready='true']", state="attached")
            widget(page).locator(".hd-launcher").click()
            page.wait_for_function("""() => document.querySelector('#helpdesk-widget').shadowRoot
                                      .querySelectorAll('.hd-choice').length >= 1""", timeout=30_000)
        finally:
            browser.close()
