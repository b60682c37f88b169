"""Personal data typed through every channel is stored masked: every text column, log line, export, LM prompt.

A database of its own per backend (the shared one holds other tests' personal data on purpose), the real
app, models, Slack and Telegram as local servers, socket.io over a real server. Retention runs here too:
its clock jumps ahead and would empty a shared database.
"""

import asyncio
import json
import logging
import re
import time
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import MetaData, select

from bot.app import create_app
from bot.cli import main as cli
from bot.cli.serve import SAMPLE_FAQS
from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from bot.background.purge import REMOVED_TEXT
from bot.background.retention import RetentionJob
from bot.services import build_services
from bot.settings import get_settings
from core.database import utcnow
from core.processes import ProcessTable
from dialogue.records import ConversationRecord, CustomerRecord, TurnRecord
from retrieval.faq_files import read_faq_file
from retrieval.faqs import make_draft
from tests.integration import test_slack, test_telegram
from training.conversations import iter_conversations
from training.qa_pairs import pairs_from_conversations
from tests.conftest import ADMIN_TOKEN, BACKENDS, make_settings
from tests.support.live_server import live_server
from tests.support.platform_servers import SlackApiServer, TelegramApiServer
from tests.support.privacy_seeds import SEEDS, messages
from tests.integration.test_socketio import RasaClient
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHANNELS = ("rest", "widget", "socketio", "slack", "telegram")
DOUBLE_CHARGE = make_draft(
    "I was charged twice for one order",
    "A second charge for the same order is usually a pending authorisation from a failed attempt; it disappears "
    "within 5 working days. If both charges are still there after that, contact us.",
    ["my card was charged twice", "double charge on my card", "why was I billed two times?"])


class SpyGenerator:
    """The real LM, recording every prompt it is given."""

    def __init__(self, real):
        self.real = real
        self.prompts: list[str] = []

    def generate(self, messages, **kwargs):
        self.prompts.append(json.dumps(messages, ensure_ascii=False))
        return self.real.generate(messages, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture(scope="module", params=BACKENDS)
def private(request, tmp_path_factory, models_dir, embedder, generator):
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('privacy-db') / 'helpdesk.db'}"
    else:
        url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    settings = make_settings(tmp_path_factory.mktemp("privacy"), url, models_dir, max_new_tokens=8,
                             slack_signing_secret=SecretStr(test_slack.SIGNING_SECRET),
                             slack_bot_token=SecretStr(test_slack.BOT_TOKEN),
                             telegram_bot_token=SecretStr(test_telegram.BOT_TOKEN),
                             telegram_secret_token=SecretStr(test_telegram.SECRET), delivery_backoff_seconds=0.05)
    spy = SpyGenerator(generator)
    services = build_services(settings, embedder=embedder, generator=spy)
    services.start()
    services.knowledge.upsert_many([*read_faq_file(SAMPLE_FAQS).drafts, DOUBLE_CHARGE])
    yield services, spy
    services.engine.dispose()
    if drop:
        drop()


@pytest.fixture(scope="module")
def platforms():
    slack, telegram = SlackApiServer(test_slack.BOT_TOKEN).start(), TelegramApiServer(test_telegram.BOT_TOKEN).start()
    yield slack, telegram
    slack.stop()
    telegram.stop()


def _app_settings(services, platforms):
    slack, telegram = platforms
    return services.settings.model_copy(update={"slack_api_url": slack.url, "telegram_api_url": telegram.url})


def _send_all(client: TestClient, url: str, services, platforms) -> dict[str, list[str]]:
    """Type every seeded message, each channel in turn; returns the sender ids per channel."""
    senders: dict[str, list[str]] = {channel: [] for channel in CHANNELS}
    sockets = []
    for index, (text, _) in enumerate(messages()):
        channel = CHANNELS[index % len(CHANNELS)]
        if channel == "rest":
            sender = f"priv-{uuid.uuid4().hex[:8]}"
            reply = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
            assert reply.status_code == 200, reply.text
            turn_id = reply.json()[0]["custom"]["turn_id"]
            assert client.post("/feedback", json={"sender": sender, "turn_id": turn_id, "rating": "up"}).is_success
        elif channel == "widget":
            sender = f"w{uuid.uuid4().hex}"
            reply = client.post("/widget/messages", json={"sender": sender, "message": text})
            assert reply.status_code == 200, reply.text
        elif channel == "socketio":
            sender = sockets.append(text) or f"pending-{len(sockets)}"
            continue
        elif channel == "slack":
            dm_channel = test_slack.unique("D")
            assert test_slack.post(client, test_slack.envelope(test_slack.dm(text, dm_channel))).status_code == 200
            sender = f"{test_slack.TEAM}:{dm_channel}"
        else:
            chat = test_telegram.chat_id()
            assert test_telegram.post(client, test_telegram.update(chat, text)).status_code == 200
            sender = str(chat)
        senders[channel].append(sender)
    senders["socketio"] = asyncio.run(_say_on_sockets(url, sockets))
    slack, telegram = platforms
    slack.wait_for("chat.postMessage", len(senders["slack"]))
    telegram.wait_for("sendMessage", len(senders["telegram"]))
    _wait_until_processed(services)
    return senders


async def _say_on_sockets(url: str, texts: list[str]) -> list[str]:
    senders = []
    for text in texts:
        async with RasaClient(url) as client:
            session_id = uuid.uuid4().hex
            await client.session(session_id)
            await client.say({"message": text, "session_id": session_id,
                              "customData": {"note": text}})  # metadata is masked too
            senders.append(session_id)
    return senders


def _wait_until_processed(services, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with services.sessions() as session:
            # An event's first key keeps its payload until it is answered (bot/connectors/ledger.py).
            open_events = session.scalar(select(ChannelEventRecord.id).where(ChannelEventRecord.payload.is_not(None))
                                         .limit(1))
        if open_events is None:
            return
        time.sleep(0.2)
    raise AssertionError("channel events still unanswered")


def _every_cell(engine) -> dict[str, list[str]]:
    """The whole database as text, table by table, read through reflection (not the models)."""
    tables = MetaData()
    tables.reflect(engine)
    cells: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            cells[table.name] = [json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str)
                                 else value for row in connection.execute(table.select()) for value in row]
    return cells


_SPACING = re.compile(r"[\s().-]")
_NUMBERS = ("card", "iban", "phone", "gov_id")  # also looked for without their spaces, dashes and brackets


def _leaks(texts: list[str], seeds) -> list[str]:
    """The seeds' values found in `texts`, as typed or (numbers) in any spacing."""
    compact_texts = [_SPACING.sub("", text) for text in texts]
    found = []
    for seed in seeds:
        if any(seed.value in text for text in texts) or (
                seed.kind in _NUMBERS and any(_SPACING.sub("", seed.value) in text for text in compact_texts)):
            found.append(seed.value)
    return found


def _exports(client: TestClient, services, senders, monkeypatch) -> list[str]:
    """Every way data leaves: the admin exports and views, and the CLI exports."""
    texts = []
    for channel, ids in senders.items():
        for sender in ids:
            found = client.get("/admin/customers", params={"channel": channel, "sender_id": sender}, headers=ADMIN)
            assert found.status_code == 200 and len(found.json()["data"]) == 1, (channel, sender, found.text)
            customer = found.json()["data"][0]["id"]
            texts.append(client.get(f"/admin/customers/{customer}/export", headers=ADMIN).text)
    inbox = client.get("/admin/conversations", params={"limit": 200}, headers=ADMIN).json()
    texts.append(json.dumps(inbox))
    texts += [client.get(f"/admin/conversations/{c['id']}", headers=ADMIN).text for c in inbox["data"]]
    texts.append(client.get("/admin/gaps", headers=ADMIN).text)
    texts += [client.get(f"/admin/conversations/{c['id']}/suggestions", params={"draft": "false"}, headers=ADMIN).text
              for c in inbox["data"][:10]]  # agent assist searches with the customer's last question
    pairs = pairs_from_conversations(iter_conversations(services.sessions, only_rated=True), {})
    assert pairs, "no rated conversation: the training data check checked nothing"
    texts += [pair.question + " " + pair.answer for pair in pairs]
    monkeypatch.setenv("HELPDESK_DATABASE_URL", services.settings.resolved_database_url)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("HELPDESK_MODELS_DIR", str(services.settings.models_dir))
    get_settings.cache_clear()
    try:
        exported = CliRunner().invoke(cli, ["export", "conversations", "-"])
        assert exported.exit_code == 0, exported.output
        texts.append(exported.stdout)
    finally:
        get_settings.cache_clear()
    return texts


def test_seeded_personal_data_is_masked_in_every_table_log_export_and_prompt(private, platforms, caplog,
                                                                           monkeypatch):
    services, spy = private
    caplog.set_level(logging.DEBUG)
    app = create_app(_app_settings(services, platforms), services)
    with live_server(app) as url, TestClient(create_app(_app_settings(services, platforms), services)) as client:
        senders = _send_all(client, url, services, platforms)
        exports = _exports(client, services, senders, monkeypatch)
    assert sum(len(ids) for ids in senders.values()) == len(messages()) and len(SEEDS) >= 200

    cells = _every_cell(services.engine)
    with services.sessions() as session:
        profiled = {value for customer in session.scalars(select(CustomerRecord))
                    for value in (customer.email, customer.phone) if value}
    own = [seed for seed in SEEDS if seed.own]
    assert {seed.value for seed in own} <= profiled  # the profile keeps what customers gave as their own
    cards = [seed for seed in SEEDS if seed.kind == "card"]
    unprofiled = [seed for seed in SEEDS if seed.value not in profiled]
    for table, texts in cells.items():
        assert not _leaks(texts, cards), f"card numbers in {table}"
        allowed_profile = table in ("customers", "channel_deliveries")  # the profile; the confirmation as sent
        assert not _leaks(texts, unprofiled if allowed_profile else SEEDS), f"personal data in {table}"
    assert "<CARD>" in " ".join(cells["turns"]) and "<IBAN>" in " ".join(cells["turns"])
    log_lines = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert not _leaks(log_lines, SEEDS), [(r.name, r.getMessage()[:300]) for r in caplog.records
                                          if _leaks([r.getMessage()], SEEDS)][:5]
    assert not _leaks(exports, unprofiled)
    assert spy.prompts, "no message was answered by the LM: the prompt check checked nothing"
    assert not _leaks(spy.prompts, unprofiled)


def test_a_card_number_in_the_message_still_finds_the_double_charge_faq(private):
    services, _ = private
    with TestClient(create_app(services.settings, services)) as client:
        sender = f"card-{uuid.uuid4().hex[:8]}"
        reply = client.post("/webhooks/rest/webhook",
                            json={"sender": sender, "message": "my card 4111 1111 1111 1111 was charged twice"})
        assert reply.status_code == 200
        assert DOUBLE_CHARGE.question in [source["title"] for source in reply.json()[0]["custom"]["sources"]]
        stored = client.get("/admin/customers", params={"channel": "rest", "sender_id": sender}, headers=ADMIN)
        export = client.get(f"/admin/customers/{stored.json()['data'][0]['id']}/export", headers=ADMIN).json()
    assert export["conversations"][0]["turns"][0]["text"] == "my card <CARD> was charged twice"


def _old_conversation(services, days_ago: float, sender: str) -> int:
    with TestClient(create_app(services.settings, services)) as client:
        client.post("/webhooks/rest/webhook", json={"sender": sender, "message": "my email is old@customer.example"})
    moment = utcnow() - timedelta(days=days_ago)
    with services.sessions() as session:
        conversation = session.scalars(select(ConversationRecord).order_by(ConversationRecord.id.desc())).first()
        conversation.last_activity_at = moment
        session.get(CustomerRecord, conversation.customer_id).updated_at = moment
        session.commit()
        return conversation.id


def test_retention_job_deletes_or_anonymises_what_is_older_in_one_process(private):
    services, _ = private
    old, recent = _old_conversation(services, 40, "old-ann"), _old_conversation(services, 5, "recent-bob")
    clock = [utcnow()]
    first = ProcessTable(services.sessions, timedelta(seconds=60))
    second = ProcessTable(services.sessions, timedelta(seconds=60))
    first.register()
    second.register()
    try:
        jobs = [RetentionJob(services.sessions, registry, 30, "anonymise", 3600, clock=lambda: clock[0])
                for registry in (first, second)]
        results = [job.run_once() for job in jobs]
        assert [result is not None for result in results] == [True, False]  # the older process only
        with services.sessions() as session:
            texts = {turn.text for turn in session.scalars(select(TurnRecord).where(TurnRecord.conversation_id == old))}
            assert texts == {REMOVED_TEXT}
            assert session.get(CustomerRecord, session.get(ConversationRecord, old).customer_id).email is None
            assert session.get(ConversationRecord, recent) is not None
        clock[0] += timedelta(days=30)  # now the recent one is past retention too; delete this time
        jobs[0].mode = "delete"
        assert jobs[0].run_once().conversations >= 2
        with services.sessions() as session:
            assert session.get(ConversationRecord, old) is None and session.get(ConversationRecord, recent) is None
            assert session.scalar(select(DeliveryRecord.id).where(DeliveryRecord.created_at < clock[0]
                                                                  - timedelta(days=30))) is None
        first.retire()  # the other process is elected once the first is gone
        assert jobs[1].run_once() is not None
    finally:
        first.retire()
        second.retire()
