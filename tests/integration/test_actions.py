"""Custom actions and forms against a real rasa-sdk action server, through the REST webhook and admin API."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from bot.app import create_app
from bot.cli.serve import SAMPLE_FAQS
from bot.services import build_services
from core.outbox import OutboxEventRecord, WebhookDeliveryRecord, WebhookSubscriptionRecord
from dialogue.actions.records import ActionRunRecord
from dialogue.actions.action_server import ActionServer
from retrieval.faq_files import read_faq_file
from tests.conftest import ADMIN_TOKEN, BACKENDS, VERIFIED, make_settings
from tests.support.live_server import free_port
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ORDER = {"name": "action_order_status", "description": "Looks up where an order is.",
         "examples": ["where is my order?", "has my order shipped yet?", "what's the status of my order",
                      "when will my package arrive?"],
         "slots": [{"name": "order_number", "prompt": "What is your order number (like NH-1234)?",
                    "pattern": r"[A-Z]{2}-\d{4}"},
                   {"name": "email", "prompt": "Which email address did you order with?", "type": "email",
                    "profile_field": "email"}]}
CANCEL = {"name": "action_cancel_order", "description": "Cancels an order.",
          "examples": ["cancel my order", "I want to cancel an order"],
          "slots": [{"name": "order_number", "prompt": "Which order (like NH-1234)?", "pattern": r"[A-Z]{2}-\d{4}"}]}
FAILING = {  # action name -> (a phrasing that triggers it, the failure recorded)
    "action_crash": ("please recalculate my loyalty points balance", "server_error"),
    "action_reject": ("book a repair visit for my thermostat", "rejected"),
    "action_missing": ("send me a gift voucher code", "not_found"),
    "action_slow": ("generate my yearly energy usage report", "timeout"),
}


@pytest.fixture(scope="module")
def actions_module() -> str:
    return "tests.support.rasa_actions"


@pytest.fixture(scope="module")
def action_server(actions_module, database):
    """One per database: the sample shop's server keeps state (its orders table) that a test changes."""
    port = free_port()
    env = {**os.environ, "SANIC_HOST": "127.0.0.1"}
    process = subprocess.Popen([sys.executable, "-m", "rasa_sdk", "--actions", actions_module, "-p", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("the rasa-sdk action server did not start")
    yield f"http://127.0.0.1:{port}/webhook"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module", params=BACKENDS)
def database(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('actions') / 'helpdesk.db'}"
        return
    url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    yield url
    drop()


@pytest.fixture(scope="module")
def settings(database, action_server, tmp_path_factory, models_dir):
    return make_settings(tmp_path_factory.mktemp("data"), database, models_dir, action_endpoint=action_server,
                         action_timeout=2.0)


@pytest.fixture(scope="module")
def services(settings, embedder, generator):
    started = build_services(settings, embedder=embedder, generator=generator)
    started.start()
    started.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    with TestClient(create_app(settings, started)) as client:
        for body in [ORDER, CANCEL] + [{"name": name, "examples": [phrase]} for name, (phrase, _) in FAILING.items()]:
            assert client.post("/admin/actions", json=body, headers=HEADERS).status_code == 201
    yield started
    started.engine.dispose()


@pytest.fixture()
def client(settings, services):
    with TestClient(create_app(settings, services)) as test_client:
        yield test_client


def say(client, sender, text, replies=1, headers=None) -> list[dict]:
    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body) == replies, body
    return body


def new_sender() -> str:
    return f"customer-{uuid.uuid4().hex[:8]}"


def test_a_paraphrase_starts_the_form_bad_values_are_re_asked_and_the_action_runs(client, services):
    sender = new_sender()
    [asked] = say(client, sender, "has my parcel shipped yet?")
    assert asked["text"] == ORDER["slots"][0]["prompt"] and asked["custom"]["kind"] == "action"
    [again] = say(client, sender, "it is 1234")  # fails the pattern: the reason, then the question again
    assert again["text"].startswith("That doesn't look like a valid order number.")
    assert again["text"].endswith(ORDER["slots"][0]["prompt"])
    refused = say(client, sender, "NH-0000", replies=2)  # the server's validate_action_order_status refuses it
    assert refused[0]["text"] == "I can't find an order NH-0000."
    assert refused[1]["text"] == ORDER["slots"][0]["prompt"]
    [email] = say(client, sender, "sorry, it's NH-1234")
    assert email["text"] == ORDER["slots"][1]["prompt"]
    [status, picture] = say(client, sender, "jane@example.com", replies=2)
    assert status["text"] == "Order NH-1234 (for jane@example.com) is shipped on 28 November and arrives tomorrow."
    assert status["buttons"] == [{"title": "Cancel this order", "payload": '/cancel_order{"order_number": "NH-1234"}'}]
    assert picture["image"] == "https://shop.example/track.png" and picture["custom"]["payload"] == {"carrier": "DHL"}
    with services.sessions() as session:
        run = session.scalars(select(ActionRunRecord)
                              .where(ActionRunRecord.turn_id == status["custom"]["turn_id"])).one()
    assert (run.action, run.status, run.error_kind) == ("action_order_status", "ok", None)
    assert {"event": "slot", "name": "order_status", "value": "shipped on 28 November and arrives tomorrow"}.items() \
        <= run.events[0].items()


def test_a_slot_comes_from_the_profile_and_the_message(client):
    sender = new_sender()
    say(client, sender, "my email is ann@example.com")
    [status, _] = say(client, sender, "where is my order NH-5678?", replies=2, headers=VERIFIED)
    assert status["text"] == "Order NH-5678 (for ann@example.com) is being packed."


def test_the_profile_fills_no_slot_for_an_unverified_sender(client):
    # Else a sender id would be enough to run an action with another customer's email (issue 27).
    sender = new_sender()
    say(client, sender, "my email is ann@example.com")  # told without a token: anyone may have typed this id
    [asked] = say(client, sender, "where is my order NH-5678?")
    assert asked["text"] == ORDER["slots"][1]["prompt"] and "ann@example.com" not in asked["text"]


def test_a_button_payload_runs_an_action_and_its_followup(client):
    sender = new_sender()
    cancelled, note = say(client, sender, '/cancel_order{"order_number": "NH-1234"}', replies=2)
    assert cancelled["text"] == "Order NH-1234 is cancelled." and note["text"] == "Your refund starts today."


def test_an_faq_question_leaves_the_form_and_it_is_offered_again(client):
    sender = new_sender()
    say(client, sender, "where is my order?")
    answer, offer = say(client, sender, "How do I return an accessory?", replies=2)
    assert answer["custom"]["kind"] == "faq"
    assert "earlier request" in offer["text"] and [b["payload"] for b in offer["buttons"]] == ["/affirm", "/deny"]
    [asked] = say(client, sender, "/affirm")
    assert asked["text"] == ORDER["slots"][0]["prompt"]
    [left] = say(client, sender, "never mind")
    assert left["text"].startswith("OK, I've stopped")
    [greeting] = say(client, sender, "NH-1234")  # no form any more: not taken as an order number
    assert greeting["custom"]["kind"] != "action" or "order number" not in greeting["text"]


def test_asking_for_a_person_leaves_the_form(client):
    sender = new_sender()
    say(client, sender, "where is my order?")
    [handoff] = say(client, sender, "I want to talk to a human")
    assert handoff["custom"]["kind"] == "handoff"


def test_a_value_can_be_changed_before_the_action_runs(client):
    sender = new_sender()
    say(client, sender, "where is my order?")
    say(client, sender, "NH-5678")
    [asked] = say(client, sender, "actually change the order number")
    assert asked["text"] == "Sure. " + ORDER["slots"][0]["prompt"]
    say(client, sender, "NH-1234")
    [status, _] = say(client, sender, "bob@example.com", replies=2)
    assert "NH-1234" in status["text"]


def test_a_form_survives_a_restart(settings, services, embedder, generator):
    sender = new_sender()
    with TestClient(create_app(settings, services)) as first:
        say(first, sender, "what's the status of my order")
        say(first, sender, "NH-1234")
    restarted = build_services(settings, embedder=embedder, generator=generator)  # a new process
    restarted.start()
    try:
        with TestClient(create_app(settings, restarted)) as second:
            [status, _] = say(second, sender, "carol@example.com", replies=2)
        assert status["text"].startswith("Order NH-1234 (for carol@example.com)")
    finally:
        restarted.engine.dispose()


@pytest.mark.parametrize("action", sorted(FAILING))
def test_failures_are_answered_recorded_and_shown_in_the_transcript(client, action):
    phrase, kind = FAILING[action]
    sender = new_sender()
    [reply] = say(client, sender, phrase)
    assert reply["text"].startswith("I'm sorry, I couldn't complete that just now")
    assert reply["buttons"] == [{"title": "Talk to a person", "payload": "talk to a person"}]
    transcript = client.get(f"/admin/conversations/{reply['custom']['conversation_id']}", headers=HEADERS).json()
    [turn] = [t for t in transcript["turns"] if t["id"] == reply["custom"]["turn_id"]]
    assert turn["action"]["action"] == action and turn["action"]["status"] == "failed"
    assert turn["action"]["error_kind"] == kind
    [handoff] = say(client, sender, "talk to a person")
    assert handoff["custom"]["kind"] == "handoff"


def test_a_server_that_is_down_is_answered_and_told_to_webhook_subscribers(client, services):
    subscribed = client.post("/admin/webhooks", headers=HEADERS, json={
        "url": "http://127.0.0.1:9/hooks", "events": ["action.failed"], "secret": "s" * 24})
    assert subscribed.status_code == 201, subscribed.text
    runner = services.manager.actions
    working, runner.server = runner.server, ActionServer(f"http://127.0.0.1:{free_port()}/webhook", 2.0)
    try:
        [reply] = say(client, new_sender(), "please recalculate my loyalty points balance")
    finally:
        runner.server = working
    assert reply["text"].startswith("I'm sorry")
    with services.sessions() as session:
        run = session.scalars(select(ActionRunRecord)
                              .where(ActionRunRecord.turn_id == reply["custom"]["turn_id"])).one()
    assert run.error_kind == "unreachable"
    with services.sessions() as session:
        told = [json.loads(body) for body in session.scalars(
            select(OutboxEventRecord.body).where(OutboxEventRecord.type == "action.failed")).all()]
        for model in (WebhookDeliveryRecord, OutboxEventRecord, WebhookSubscriptionRecord):  # shared database
            session.execute(delete(model))
        session.commit()
    [event] = [e for e in told if e["data"]["turn_id"] == reply["custom"]["turn_id"]]
    assert event["data"]["action"] == "action_crash" and event["data"]["error"].startswith("unreachable: ")


def test_a_slow_action_does_not_hold_up_other_customers(client):
    slow: list[float] = []
    thread = threading.Thread(target=lambda: (say(client, new_sender(), FAILING["action_slow"][0]),
                                              slow.append(time.monotonic())))
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)
    [faq] = say(client, new_sender(), "How do I return an accessory?")
    answered = time.monotonic()
    thread.join()
    assert faq["custom"]["kind"] == "faq"
    assert answered < slow[0] and slow[0] - started >= 2.0  # the slow one waited for its 2 s timeout


def test_admin_actions_crud_audit_and_search(client):
    body = {"name": "action_balance", "description": "Tells the account balance.",
            "examples": ["what is my balance?"], "slots": [{"name": "account", "prompt": "Account number?",
                                                            "type": "number"}]}
    assert client.post("/admin/actions", json=body, headers=HEADERS).status_code == 201
    assert client.post("/admin/actions", json=body, headers=HEADERS).status_code == 409
    search = client.post("/admin/search", json={"query": "how much money is on my account balance"},
                         headers=HEADERS).json()
    assert search["actions"][0]["name"] == "action_balance"
    changed = client.put("/admin/actions/action_balance", json={**body, "examples": ["show my balance"]},
                         headers=HEADERS).json()
    assert changed["version"] == 2 and client.get("/admin/actions/action_balance", headers=HEADERS).json() == changed
    bad = client.post("/admin/actions", json={**body, "name": "x2", "slots": [{"name": "a", "prompt": "?",
                                                                              "pattern": "(["}]}, headers=HEADERS)
    assert bad.status_code == 422 and "not a valid regular expression" in bad.json()["detail"][0]["msg"]
    assert client.post("/admin/actions", json={**body, "name": "x3", "slots": [{"name": "a", "prompt": "?",
                                                                              "type": "colour"}]},
                       headers=HEADERS).status_code == 422
    assert client.delete("/admin/actions/action_balance", headers=HEADERS).status_code == 204
    assert client.get("/admin/actions/action_balance", headers=HEADERS).status_code == 404
    audit = client.get("/admin/audit", params={"action": "action."}, headers=HEADERS).json()["data"]
    assert [entry["action"] for entry in audit[:3]] == ["action.delete", "action.update", "action.create"]
    assert client.post("/admin/actions", json=body).status_code == 401
