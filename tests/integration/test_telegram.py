"""Telegram Bot API webhooks against the real app, models and database, and a local Bot API server."""

import re
import time
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import create_app
from bot.cli import main as cli
from bot.connectors.records import DeliveryRecord
from bot.services import build_services
from bot.settings import get_settings
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord
from retrieval.faqs import make_draft
from tests.support.platform_servers import TelegramApiServer

pytestmark = pytest.mark.integration

BOT_TOKEN = "123456:TEST-telegram-token"
SECRET = "s3cret-token_for-tests"
WEBHOOK = "/webhooks/telegram/webhook"
RETURNS_QUESTION = "What is the return policy for devices?"


@pytest.fixture(scope="module")
def telegram_server():
    server = TelegramApiServer(BOT_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture()
def api(telegram_server) -> TelegramApiServer:
    telegram_server.reset()
    return telegram_server


@contextmanager
def telegram_app(services, api, **overrides):
    settings = services.settings.model_copy(update=dict(
        telegram_bot_token=SecretStr(BOT_TOKEN), telegram_secret_token=SecretStr(SECRET),
        telegram_api_url=api.url, delivery_backoff_seconds=0.05) | overrides)
    with TestClient(create_app(settings, services)) as client:
        yield client


_ids = iter(range(int(time.time() * 1000) % 10**9, 10**12))


def chat_id() -> int:
    return next(_ids)


def update(chat: int, text: str | None = None, *, kind: str = "message", update_id: int | None = None,
           **message_extra) -> dict:
    message = {"message_id": next(_ids), "date": int(time.time()),
               "from": {"id": chat, "is_bot": False, "first_name": "Ann", "username": "ann_k"},
               "chat": {"id": chat, "type": "private", "first_name": "Ann"}, **message_extra}
    if text is not None:
        message["text"] = text
    return {"update_id": update_id or next(_ids), kind: message}


def post(client: TestClient, body, secret: str | None = SECRET, **kwargs):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post(WEBHOOK, json=body, headers=headers, **kwargs)


def turns_of(services, chat: int) -> list[TurnRecord]:
    with services.sessions() as session:
        return list(session.scalars(
            select(TurnRecord).join(ConversationRecord).join(
                ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == "telegram",
                   ChannelIdentityRecord.external_id == str(chat))
            .order_by(TurnRecord.id)))


def deliveries_to(services, chat: int) -> list[DeliveryRecord]:
    with services.sessions() as session:
        rows = session.scalars(select(DeliveryRecord).where(DeliveryRecord.channel == "telegram")
                               .order_by(DeliveryRecord.id))
        return [row for row in rows if row.target["chat_id"] == chat]


def faq_answer(services, question: str) -> str:
    return services.knowledge.search(question, top_k=1)[0].faq.answer


def test_telegram_is_off_without_credentials_and_says_which_settings_enable_it(client, services, api):
    response = client.post(WEBHOOK, json=update(chat_id(), "hi"))
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "HELPDESK_TELEGRAM_BOT_TOKEN" in detail and "HELPDESK_TELEGRAM_SECRET_TOKEN" in detail
    with telegram_app(services, api, telegram_secret_token=None) as half:
        detail = post(half, update(chat_id(), "hi")).json()["detail"]
    assert "HELPDESK_TELEGRAM_SECRET_TOKEN" in detail and "BOT_TOKEN" not in detail


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("", 401), ("wrong-secret", 403),
                                                (SECRET + "x", 403)])
def test_missing_or_wrong_secret_token_is_refused_and_nothing_processed(services, api, secret, status):
    chat = chat_id()
    body = update(chat, RETURNS_QUESTION)
    with telegram_app(services, api) as client:
        response = post(client, body, secret=secret)
        assert response.status_code == status
        assert "X-Telegram-Bot-Api-Secret-Token" in response.json()["detail"]
        assert api.calls == [] and turns_of(services, chat) == []
        # Refused before the update was claimed: Telegram's genuine delivery of the same update is answered.
        assert post(client, body).status_code == 200
    assert len(api.sent()) == 1


def test_text_message_is_answered_with_send_message_and_recorded(services, api):
    chat = chat_id()
    body = update(chat, RETURNS_QUESTION)
    with telegram_app(services, api) as client:
        started = time.perf_counter()
        response = post(client, body)
        acked = time.perf_counter() - started
    assert response.status_code == 200 and acked < 2.0
    [sent] = api.sent()
    assert sent["chat_id"] == chat
    assert sent["text"] == faq_answer(services, RETURNS_QUESTION)
    assert sent["reply_parameters"]["message_id"] == body["message"]["message_id"]
    assert "parse_mode" not in sent  # plain text: a stray * or _ can never make Telegram refuse it
    user_turn, bot_turn = turns_of(services, chat)
    assert user_turn.text == RETURNS_QUESTION
    assert user_turn.metadata_["telegram_username"] == "ann_k"
    [delivery] = deliveries_to(services, chat)
    assert (delivery.status, delivery.turn_id) == ("sent", bot_turn.id)


def test_edited_message_is_answered_as_a_new_message_of_the_chat(services, api):
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, "hi, my name is Oskar"))
        api.wait_for("sendMessage")
        post(client, update(chat, "what's my name?", kind="edited_message", edit_date=int(time.time())))
    first, second = api.sent()
    assert "Oskar" in second["text"]
    turns = turns_of(services, chat)
    assert turns[2].metadata_["edited"] is True
    assert len({turn.conversation_id for turn in turns}) == 1


@pytest.mark.parametrize("command", ["/start", "/start welcome-campaign", "/start@NimbusHomeBot"])
def test_start_gets_a_welcome(services, api, command):
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, command))
    [sent] = api.sent()
    assert sent["text"].startswith("Hello! I'm the Nimbus Home assistant")
    assert turns_of(services, chat) == []


def test_restart_command_with_bot_name_reaches_the_dialogue(services, api):
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, "/restart@NimbusHomeBot"))
    [sent] = api.sent()
    assert sent["text"] == "Let's start over. How can I help you?"


@pytest.mark.parametrize("content", [
    {"photo": [{"file_id": "AgAD", "file_unique_id": "u1", "width": 90, "height": 90}], "caption": "broken"},
    {"sticker": {"file_id": "CAAD", "file_unique_id": "u2", "width": 512, "height": 512, "type": "regular"}},
    {"voice": {"file_id": "AwAD", "file_unique_id": "u3", "duration": 3}},
])
def test_non_text_messages_get_a_polite_reply(services, api, content):
    chat = chat_id()
    with telegram_app(services, api) as client:
        assert post(client, update(chat, **content)).status_code == 200
    [sent] = api.sent()
    assert "only read text" in sent["text"]


def test_duplicate_update_gets_one_reply_even_after_a_restart(services, api):
    chat = chat_id()
    body = update(chat, RETURNS_QUESTION)
    with telegram_app(services, api) as client:
        assert post(client, body).status_code == 200
        assert post(client, body).status_code == 200
    assert len(api.sent()) == 1

    restarted = build_services(services.settings, embedder=services.embedder, generator=services.generator)
    restarted.start()
    with telegram_app(restarted, api) as client:
        assert post(client, body).status_code == 200
    restarted.engine.dispose()
    assert len(api.sent()) == 1
    assert len(turns_of(services, chat)) == 2


def test_rate_limited_send_waits_retry_after_then_delivers(services, api):
    api.fail_next("sendMessage", 429, {"ok": False, "error_code": 429,
                                       "description": "Too Many Requests: retry after 1",
                                       "parameters": {"retry_after": 1}})
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, RETURNS_QUESTION))
    refused, delivered = api.calls_to("sendMessage")
    assert delivered.at - refused.at >= 0.95
    [delivery] = deliveries_to(services, chat)
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_blocked_bot_is_a_recorded_permanent_failure(services, api):
    api.fail_next("sendMessage", 403, {"ok": False, "error_code": 403,
                                       "description": "Forbidden: bot was blocked by the user"})
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, RETURNS_QUESTION))
    [delivery] = deliveries_to(services, chat)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "blocked" in delivery.last_error


def test_retry_after_longer_than_allowed_is_recorded_as_failed_at_once(services, api):
    api.fail_next("sendMessage", 429, {"ok": False, "error_code": 429, "description": "Too Many Requests",
                                       "parameters": {"retry_after": 3600}})
    chat = chat_id()
    with telegram_app(services, api, delivery_max_wait_seconds=5) as client:
        post(client, update(chat, RETURNS_QUESTION))
    [delivery] = deliveries_to(services, chat)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "HELPDESK_DELIVERY_MAX_WAIT_SECONDS" in delivery.last_error


@pytest.mark.unit
@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short", 10, ["short"]),
    ("a" * 25, 10, ["a" * 10, "a" * 10, "a" * 5]),  # no break anywhere: cut hard, nothing lost
    ("one two three four", 9, ["one two", "three", "four"]),
    ("First line is here.\nSecond line.", 25, ["First line is here.", "Second line."]),  # line, not word
    ("🔘" * 5, 4, ["🔘🔘", "🔘🔘", "🔘"]),  # measured in UTF-16 units, as Telegram counts
    ("   ", 10, []),
])
def test_split_text(text, limit, expected):
    from bot.connectors.delivery import split_text

    assert split_text(text, limit, lambda part: len(part.encode("utf-16-le")) // 2) == expected


@pytest.fixture()
def long_faq(services):
    # 9,000 characters with no paragraph breaks and emoji (2 UTF-16 units each, as Telegram counts).
    step = "press the 🔘 button on the Nimbus Hub and wait for the light."
    answer = " ".join(f"Step {n}: {step}" for n in range(130))
    faq = services.knowledge.create(make_draft("How do I run the Nimbus Hub 130-step diagnostic?", answer))
    yield faq
    services.knowledge.delete(faq.id)


def test_long_reply_is_split_at_4096(services, api, long_faq):
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, "How do I run the Nimbus Hub 130-step diagnostic?"))
    texts = [sent["text"] for sent in api.sent()]
    assert len(texts) == 3
    assert all(len(text.encode("utf-16-le")) // 2 <= 4096 for text in texts)
    assert " ".join(texts) == long_faq.answer  # cut between words, nothing lost or reordered
    assert [d.status for d in deliveries_to(services, chat)] == ["sent"] * 3


# -- bad input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "needle"), [
    (b'{"update_id": 1, "message": ', "json"),
    ('{"update_id": 1, "message": {"text": "caf\xe9"}}'.encode("latin-1"), "utf-8"),
    (b'[1, 2]', "object"),
    (b'{"message": {"text": "hi", "chat": {"id": 1}}}', "update_id"),
    (b'{"update_id": "7", "message": {"text": "hi", "chat": {"id": 1}}}', "update_id"),
])
def test_malformed_updates_are_clear_400s(services, api, content, needle):
    with telegram_app(services, api) as client:
        response = client.post(WEBHOOK, content=content, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET,
                                                                  "content-type": "application/json"})
    assert response.status_code == 400
    assert needle in response.json()["detail"].lower()
    assert api.calls == []


@pytest.mark.parametrize("body", [
    {"update_id": 900001, "callback_query": {"id": "1", "from": {"id": 5, "is_bot": False}, "data": "x"}},
    {"update_id": 900002, "message": "not an object"},
    {"update_id": 900003, "message": {"message_id": 1, "text": "no chat"}},
    {"update_id": 900004, "message": {"message_id": 1, "text": "bot", "chat": {"id": 5, "type": "group"},
                                      "from": {"id": 6, "is_bot": True, "first_name": "OtherBot"}}},
    {"update_id": 900005, "message": {"message_id": 1, "text": "   ", "chat": {"id": 5, "type": "private"}}},
])
def test_unhandled_updates_are_acknowledged_and_ignored(services, api, body):
    body = body | {"update_id": next(_ids)}
    with telegram_app(services, api) as client:
        assert post(client, body).status_code == 200
    assert api.calls == []


def test_huge_message_gets_a_polite_answer(services, api):
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, "y" * 4090))
    [sent] = api.sent()
    assert "4090 characters" in sent["text"]
    assert turns_of(services, chat) == []


# -- helpdesk telegram set-webhook -----------------------------------------------------------------------

@pytest.fixture()
def cli_env(api, monkeypatch):
    monkeypatch.setenv("HELPDESK_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("HELPDESK_TELEGRAM_API_URL", api.url)
    monkeypatch.delenv("HELPDESK_TELEGRAM_SECRET_TOKEN", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_set_webhook_registers_the_url_with_a_generated_secret(cli_env, api):
    result = CliRunner().invoke(cli, ["telegram", "set-webhook", "https://bot.example.com/"])
    assert result.exit_code == 0, result.output
    assert api.webhook["url"] == "https://bot.example.com/webhooks/telegram/webhook"
    secret = api.webhook["secret_token"]
    assert len(secret) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)  # what Telegram allows
    assert f"HELPDESK_TELEGRAM_SECRET_TOKEN={secret}" in result.output
    assert set(api.webhook["allowed_updates"]) == {"message", "edited_message"}


def test_set_webhook_keeps_a_configured_secret(cli_env, api):
    cli_env.setenv("HELPDESK_TELEGRAM_SECRET_TOKEN", SECRET)
    result = CliRunner().invoke(cli, ["telegram", "set-webhook", "https://bot.example.com/webhooks/telegram/webhook"])
    assert result.exit_code == 0, result.output
    assert api.webhook == api.webhook | {"url": "https://bot.example.com/webhooks/telegram/webhook",
                                         "secret_token": SECRET}
    assert SECRET not in result.output


def test_set_webhook_explains_what_is_missing_or_refused(cli_env, api):
    cli_env.setenv("HELPDESK_TELEGRAM_BOT_TOKEN", "999:wrong")
    get_settings.cache_clear()
    refused = CliRunner().invoke(cli, ["telegram", "set-webhook", "https://bot.example.com"])
    assert refused.exit_code == 1 and "Unauthorized" in refused.output
    cli_env.delenv("HELPDESK_TELEGRAM_BOT_TOKEN")
    get_settings.cache_clear()
    missing = CliRunner().invoke(cli, ["telegram", "set-webhook", "https://bot.example.com"])
    assert missing.exit_code == 1 and "HELPDESK_TELEGRAM_BOT_TOKEN" in missing.output


def test_agent_reply_to_a_handoff_is_sent_to_the_chat(services, api, admin_headers):
    chat = chat_id()
    with telegram_app(services, api) as client:
        post(client, update(chat, "Can I talk to a human? The app charged me twice"))
        api.wait_for("sendMessage")
        conversation_id = turns_of(services, chat)[0].conversation_id
        answer = "Hello Ann, Maria here: the second charge is refunded."
        response = client.post(f"/admin/conversations/{conversation_id}/messages",
                               json={"text": answer, "agent": "maria"}, headers=admin_headers)
        assert response.status_code == 201 and response.json()["delivery"]["status"] == "queued"
        sent = api.wait_for("sendMessage", 2)[1]
    assert sent.body["chat_id"] == chat and sent.body["text"] == answer
    assert "reply_parameters" not in sent.body  # a new message, not a quote of the customer's
    deadline = time.monotonic() + 10  # the platform has the message; the record follows a moment later
    while (delivery := deliveries_to(services, chat)[-1]).status == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (delivery.status, delivery.turn_id) == ("sent", response.json()["id"])
