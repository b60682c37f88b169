"""Customer data requests through the admin API and the CLI: find, export, erase (one transaction, audited)."""

import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main as cli
from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from bot.settings import get_settings
from dialogue.records import CustomerRecord
from core.audit import AuditRecord
from tests.conftest import chat
from tests.support.platform_servers import TelegramApiServer
from tests.integration.test_telegram import BOT_TOKEN, chat_id, post, telegram_app, update

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def telegram_api():
    server = TelegramApiServer(BOT_TOKEN).start()
    yield server
    server.stop()


def _customer(client, headers, channel: str, sender: str) -> int:
    found = client.get("/admin/customers", params={"channel": channel, "sender_id": sender}, headers=headers)
    assert found.status_code == 200, found.text
    [customer] = found.json()["data"]
    assert customer["channel"] == channel and customer["sender_id"] == sender
    return customer["id"]


def _training_file(services, question: str):
    """A registry entry's test split with one example from this customer's conversation and one FAQ example."""
    folder = services.settings.resolved_registry_dir / "lm" / f"lm-test-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    lines = [{"question": question, "source": "conversation", "target": "x"},
             {"question": "How do I return a device?", "source": "faq", "target": "y"}]
    path = folder / "test.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_export_holds_profile_identities_conversations_turns_and_feedback(client, admin_headers, sender):
    chat(client, sender, "my email is ann.export@example.com")
    reply = chat(client, sender, "What is the return policy for devices?")
    client.post("/feedback", json={"sender": sender, "turn_id": reply["custom"]["turn_id"], "rating": "up"})
    customer = _customer(client, admin_headers, "rest", sender)
    export = client.get(f"/admin/customers/{customer}/export", headers=admin_headers).json()
    assert export["customer"]["email"] == "ann.export@example.com"
    assert export["identities"] == [{"channel": "rest", "sender_id": sender,
                                     "created_at": export["identities"][0]["created_at"]}]
    [conversation] = export["conversations"]
    assert [turn["text"] for turn in conversation["turns"]][0] == "my email is <EMAIL>"
    assert export["feedback"] == [{"turn_id": reply["custom"]["turn_id"], "conversation_id": conversation["id"],
                                   "rating": 1, "at": export["feedback"][0]["at"]}]


def test_the_routes_name_their_parameter_customer_id_at_the_same_urls(client):
    """The path parameter was `{user_id}`: renamed, the URLs are the same (/admin/customers/17/export)."""
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/admin/customers/{customer_id}/export", "/admin/customers/{customer_id}"} <= set(paths)
    assert [parameter["name"] for parameter in paths["/admin/customers/{customer_id}"]["delete"]["parameters"]
            if parameter["in"] == "path"] == ["customer_id"]
    assert not [path for path in paths if "user_id" in path]


def test_erasure_removes_everything_in_one_go_and_audits_who_not_what(services, telegram_api, admin_headers):
    chat_with = chat_id()
    telegram_api.reset()  # the server outlives one backend's run: wait for this test's reply only
    with telegram_app(services, telegram_api) as client:
        assert post(client, update(chat_with, "My IBAN GB82 WEST 1234 5698 7654 32 was charged")).status_code == 200
        telegram_api.wait_for("sendMessage")
        customer = _customer(client, admin_headers, "telegram", str(chat_with))
        dataset = _training_file(services, "My IBAN <IBAN> was charged")
        erased = client.delete(f"/admin/customers/{customer}", headers=admin_headers)
        assert erased.status_code == 200, erased.text
        counts = erased.json()
        assert counts["turns"] == 2 and counts["identities"] == 1 and counts["training_examples"] == 1
        assert counts["channel_events"] == 1 and counts["deliveries"] == 1
        assert client.get(f"/admin/customers/{customer}/export", headers=admin_headers).status_code == 404
        assert client.get("/admin/customers", params={"channel": "telegram", "sender_id": str(chat_with)},
                          headers=admin_headers).json() == {"data": []}
        again = client.delete(f"/admin/customers/{customer}", headers=admin_headers)
        assert again.status_code == 404 and "GET /admin/customers" in again.json()["detail"]
    assert [json.loads(line)["source"] for line in dataset.read_text().splitlines()] == ["faq"]
    with services.sessions() as session:
        assert session.get(CustomerRecord, customer) is None
        assert not [row for row in session.scalars(select(DeliveryRecord)) if row.target.get("chat_id") == chat_with]
        assert session.scalar(select(ChannelEventRecord.id).where(ChannelEventRecord.channel == "telegram",
                                                                  ChannelEventRecord.payload.is_not(None))) is None
        entry = session.scalars(select(AuditRecord).where(AuditRecord.action == "customer.erase")
                                .order_by(AuditRecord.id.desc())).first()
    assert entry.actor == "bootstrap-admin" and entry.target == f"customer:{customer}"
    assert "IBAN" not in json.dumps(entry.details) and entry.details["turns"] == 2


def test_only_admins_reach_customer_data(client, make_key, sender):
    chat(client, sender, "hello")
    editor = make_key("editor")
    for method, path in [("GET", "/admin/customers"), ("GET", "/admin/customers/1/export"),
                         ("DELETE", "/admin/customers/1")]:
        assert client.request(method, path, headers=editor).status_code == 403
        assert client.request(method, path).status_code == 401


def test_cli_finds_exports_and_deletes_a_customer(client, services, admin_headers, sender, monkeypatch, tmp_path):
    chat(client, sender, "my phone number is +44 20 7946 0958")
    monkeypatch.setenv("HELPDESK_DATABASE_URL", services.settings.resolved_database_url)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(services.settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        found = runner.invoke(cli, ["customers", "find", "--channel", "rest", "--sender-id", sender])
        assert found.exit_code == 0, found.output
        customer = json.loads(found.stdout.splitlines()[0])["id"]
        out = tmp_path / "export.json"
        exported = runner.invoke(cli, ["customers", "export", str(customer), "-o", str(out)])
        assert exported.exit_code == 0, exported.output
        assert json.loads(out.read_text())["customer"]["phone"] == "+44 20 7946 0958"
        deleted = runner.invoke(cli, ["customers", "delete", str(customer), "--yes"])
        assert deleted.exit_code == 0 and json.loads(deleted.stdout)["turns"] == 2
        missing = runner.invoke(cli, ["customers", "export", str(customer)])
        assert missing.exit_code == 1 and f"No customer with id {customer}" in missing.output
        refused = runner.invoke(cli, ["customers", "purge"])
        assert refused.exit_code == 1 and "HELPDESK_RETENTION_DAYS" in refused.output
    finally:
        get_settings.cache_clear()


def test_an_agent_typing_a_card_number_is_stored_masked(client, admin_headers, sender):
    handoff = chat(client, sender, "I want to talk to a human")
    conversation_id = handoff["custom"]["conversation_id"]
    posted = client.post(f"/admin/conversations/{conversation_id}/messages", headers=admin_headers,
                         json={"text": "I refunded 4111 1111 1111 1111 to you", "agent": "maria"})
    assert posted.status_code == 201 and posted.json()["text"] == "I refunded <CARD> to you"
    transcript = client.get(f"/admin/conversations/{conversation_id}", headers=admin_headers).text
    assert "4111 1111" not in transcript  # (a bare "4111" can be in a timestamp: 06:14:08.411100Z)
