"""Outgoing webhooks through the real app, real databases and a real local HTTP receiver (docs/webhooks.md).

Each test subscribes the receiver through the admin API, talks to the bot through its chat routes, and
checks what the receiver got: signed bodies, in order per conversation, retried after a 500 and after a
timeout, given up and redelivered, paused when the receiver only fails, nothing for a rolled-back turn.
"""

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text

from bot.app import create_app
from core.outbox import OutboxEventRecord, WebhookDeliveryRecord, WebhookSubscriptionRecord
from dialogue.records import ConversationRecord, TurnRecord
from core.audit import AuditRecord
from tests.conftest import chat
from tests.support.webhook_receiver import SLOW, Receiver, verify
from tests.support.live_server import free_port

pytestmark = pytest.mark.integration

SECRET = "whsec-" + "0123456789abcdef" * 2
FAQ_QUESTION = "What is the return policy for devices?"
FAST = dict(webhook_delivery=True, webhook_backoff_seconds=0.2, webhook_max_backoff_seconds=0.5,
            webhook_timeout_seconds=1.0, webhook_lease_seconds=5.0, webhook_poll_seconds=0.1)


@pytest.fixture(autouse=True)
def no_subscriptions_left(services):
    """Other tests share this database: nothing of a webhook test may outlive it."""
    yield
    with services.sessions() as session:
        for model in (WebhookDeliveryRecord, OutboxEventRecord, WebhookSubscriptionRecord):
            session.execute(delete(model))
        session.commit()


@pytest.fixture()
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


def bot(services, **overrides) -> TestClient:
    settings = services.settings.model_copy(update=FAST | overrides)
    return TestClient(create_app(settings, services), raise_server_exceptions=False)


def subscribe(client, headers, url: str, events: list[str]) -> dict:
    response = client.post("/admin/webhooks", headers=headers, json={"url": url, "events": events, "secret": SECRET})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client, headers, subscription_id: int, **query) -> list[dict]:
    response = client.get(f"/admin/webhooks/{subscription_id}/deliveries", headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_a_conversation_reaches_the_receiver_signed_and_in_order(services, receiver, admin_headers, sender):
    with bot(services) as client:
        subscription = subscribe(client, admin_headers, receiver.url, ["conversation.started", "message.received",
                                 "message.answered", "conversation.handoff", "conversation.closed",
                                 "feedback.received"])
        chat(client, sender, "Hi, my name is Ann")
        faq = chat(client, sender, FAQ_QUESTION)
        assert client.post("/feedback", json={"sender": sender, "turn_id": faq["custom"]["turn_id"],
                                              "rating": "down"}).status_code == 204
        chat(client, sender, "I want to talk to a human")
        conversation_id = faq["custom"]["conversation_id"]
        assert client.put(f"/admin/conversations/{conversation_id}/status", headers=admin_headers,
                          json={"status": "closed"}).status_code == 200
        receiver.wait_until(lambda r: len(r.accepted()) >= 10, "the whole conversation arrived")
        time.sleep(0.5)  # nothing more may come
        listed = deliveries(client, admin_headers, subscription["id"])

    got = receiver.accepted()
    assert all(verify(SECRET, request.headers["x-helpdesk-signature"], request.body) for request in got)
    assert not verify("another-secret-0123456789", got[0].headers["x-helpdesk-signature"], got[0].body)
    events = [request.event for request in got]
    assert [event["type"] for event in events] == [
        "conversation.started", "message.received", "message.answered", "message.received", "message.answered",
        "feedback.received", "message.received", "conversation.handoff", "message.answered", "conversation.closed"]
    assert len({event["id"] for event in events}) == 10
    assert all(request.headers["x-helpdesk-event-id"] == request.event["id"] for request in got)
    assert {event["data"]["conversation_id"] for event in events} == {conversation_id}
    assert events[0]["data"]["sender_id"] == sender and events[0]["data"]["channel"] == "rest"
    with services.sessions() as session:
        customer_id = session.get(ConversationRecord, conversation_id).customer_id
    for started_or_changed in (events[0], events[7], events[9]):  # user_id: customer_id's deprecated alias
        assert (started_or_changed["data"]["customer_id"], started_or_changed["data"]["user_id"]) == (
            customer_id, customer_id)
    assert events[3]["data"]["text"] == FAQ_QUESTION
    answered = events[4]["data"]
    assert (answered["turn_id"], answered["kind"], answered["text"]) == (faq["custom"]["turn_id"], "faq", faq["text"])
    assert answered["sources"] == [{"id": s["id"], "title": s["title"]} for s in faq["custom"]["sources"]]
    assert answered["latency_ms"] > 0
    assert events[5]["data"] == {"conversation_id": conversation_id, "turn_id": faq["custom"]["turn_id"],
                                 "rating": "down", "at": events[5]["data"]["at"]}
    assert (events[7]["data"]["reason"], events[7]["data"]["previous_status"]) == ("customer", "bot")
    assert (events[9]["data"]["reason"], events[9]["data"]["status"]) == ("agent", "closed")
    assert "metadata" not in events[1]["data"]  # only what admins can read in the transcript
    assert [item["status"] for item in listed] == ["sent"] * 10
    assert [item["payload"]["id"] for item in listed] == [event["id"] for event in events][::-1]  # newest first


def test_a_delivery_is_retried_after_a_500_and_a_timeout(services, receiver, admin_headers, sender):
    receiver.answer_next(500, SLOW, 503)
    receiver.slow_seconds = 2.5  # past the sender's 1 s timeout
    with bot(services) as client:
        subscription = subscribe(client, admin_headers, receiver.url, ["message.received"])
        chat(client, sender, "Hello")
        receiver.wait_until(lambda r: len(r.accepted()) == 1, "the fourth attempt was accepted", timeout=30)
        wait(lambda: deliveries(client, admin_headers, subscription["id"])[0]["status"] == "sent", "it was marked sent")
        [delivery] = deliveries(client, admin_headers, subscription["id"])

    attempts = receiver.requests
    assert [request.answered for request in attempts] == [500, 0, 503, 200]
    assert len({request.event["id"] for request in attempts}) == 1  # the same event each time, for dedup
    assert [request.headers["x-helpdesk-delivery-attempt"] for request in attempts] == ["1", "2", "3", "4"]
    assert all(verify(SECRET, request.headers["x-helpdesk-signature"], request.body) for request in attempts)
    assert (delivery["attempts"], delivery["last_status_code"], delivery["last_error"]) == (4, 200, None)
    assert attempts[1].at - attempts[0].at >= 0.1  # backed off, not hammered


def test_a_delivery_gives_up_after_the_retry_window_and_can_be_redelivered(services, receiver, admin_headers, sender):
    receiver.answer_next(*[500] * 1000)
    with bot(services, webhook_retry_hours=1.5 / 3600) as client:
        subscription = subscribe(client, admin_headers, receiver.url, ["message.received"])
        chat(client, sender, "Hello")
        wait(lambda: deliveries(client, admin_headers, subscription["id"], status="failed"), "it was marked failed")
        [failed] = deliveries(client, admin_headers, subscription["id"], status="failed")
        assert failed["attempts"] >= 2 and failed["last_status_code"] == 500
        assert failed["last_error"].startswith("HTTP 500")
        assert client.get(f"/admin/webhooks/{subscription['id']}", headers=admin_headers).json()["failed"] == 1
        tries = len(receiver.requests)
        time.sleep(0.6)
        assert len(receiver.requests) == tries  # given up: no more attempts

        receiver.answer_normally()  # the receiver is fixed
        redelivered = client.post(f"/admin/webhooks/{subscription['id']}/deliveries/{failed['id']}/redeliver",
                                  headers=admin_headers)
        assert redelivered.status_code == 202, redelivered.text
        receiver.wait_until(lambda r: len(r.accepted()) == 1, "the redelivery was accepted")
        wait(lambda: deliveries(client, admin_headers, subscription["id"])[0]["status"] == "sent", "it was marked sent")
        missing = client.post(f"/admin/webhooks/{subscription['id']}/deliveries/999999/redeliver",
                              headers=admin_headers)
        audit = client.get("/admin/audit", headers=admin_headers, params={"action": "webhook.redeliver"}).json()

    assert receiver.accepted()[0].event["id"] == failed["event_id"]
    assert missing.status_code == 404 and "deliveries` lists them" in missing.json()["detail"]
    assert audit["data"][0]["details"]["delivery"] == failed["id"]


def test_a_receiver_that_keeps_failing_is_paused_and_resumed_in_order(services, admin_headers, sender):
    port = free_port()  # nothing listens there yet: every attempt is refused
    url = f"http://127.0.0.1:{port}/hooks/helpdesk"
    with bot(services, webhook_pause_after_hours=1.0 / 3600) as client:
        subscription = subscribe(client, admin_headers, url, ["message.received"])
        for message in ("Hello", FAQ_QUESTION, "Hello again"):
            chat(client, sender, message)

        def paused() -> dict | None:
            state = client.get(f"/admin/webhooks/{subscription['id']}", headers=admin_headers).json()
            return state if state["status"] == "paused" else None
        wait(paused, "the subscription was paused", timeout=30)
        state = paused()
        assert "Paused automatically" in state["paused_reason"] and "ConnectError" in state["paused_reason"]
        assert f"/admin/webhooks/{subscription['id']}/resume" in state["paused_reason"]
        assert state["pending"] == 3 and state["failures_in_a_row"] >= 2

        receiver = Receiver(port=port).start()
        try:
            time.sleep(0.5)
            assert receiver.requests == []  # paused: nothing is sent, even to a receiver that is back
            resumed = client.post(f"/admin/webhooks/{subscription['id']}/resume", headers=admin_headers)
            assert resumed.status_code == 200 and resumed.json()["status"] == "active"
            receiver.wait_until(lambda r: len(r.accepted()) == 3, "the waiting deliveries arrived")
        finally:
            receiver.stop()
    texts = [request.event["data"]["text"] for request in receiver.accepted()]
    assert texts == ["Hello", FAQ_QUESTION, "Hello again"]


def test_a_stuck_receiver_does_not_hold_any_answer(services, receiver, admin_headers):
    receiver.hold()  # every request waits until released
    customers = [f"customer-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    try:
        with bot(services, webhook_timeout_seconds=60.0, webhook_lease_seconds=120.0) as client:
            subscribe(client, admin_headers, receiver.url, ["message.received", "message.answered"])
            for customer in customers:  # answered while the receiver holds the first deliveries
                assert chat(client, customer, FAQ_QUESTION)["custom"]["kind"] == "faq"
                assert chat(client, customer, "Hello")["custom"]["kind"] == "action"
            assert receiver.requests == []
            receiver.release()
            receiver.wait_until(lambda r: len(r.accepted()) == 12, "every event arrived")
    finally:
        receiver.release()
    for customer in customers:
        mine = [r.event for r in receiver.accepted() if _sender_of(services, r.event) == customer]
        assert [(e["type"], e["data"]["text"] if e["type"] == "message.received" else e["data"]["kind"])
                for e in mine] == [("message.received", FAQ_QUESTION), ("message.answered", "faq"),
                                   ("message.received", "Hello"), ("message.answered", "action")]


def _sender_of(services, event: dict) -> str:
    from dialogue.records import ChannelIdentityRecord

    with services.sessions() as session:
        return session.scalar(select(ChannelIdentityRecord.external_id)
                              .join(ConversationRecord,
                                    ConversationRecord.customer_id == ChannelIdentityRecord.customer_id)
                              .where(ConversationRecord.id == event["data"]["conversation_id"]))


def test_knowledge_changes_are_told(services, receiver, admin_headers):
    with bot(services) as client:
        subscribe(client, admin_headers, receiver.url, ["knowledge.changed"])
        created = client.post("/admin/faqs", headers=admin_headers, json={
            "question": "Do you sell gift cards?", "answer": "Yes, from 10 to 200 euros, in the online shop."})
        assert created.status_code == 201, created.text
        faq_id = created.json()["id"]
        assert client.delete(f"/admin/faqs/{faq_id}", headers=admin_headers).status_code == 204
        receiver.wait_until(lambda r: len(r.accepted()) == 2, "both changes arrived")
    events = [request.event["data"] for request in receiver.accepted()]
    assert [(e["action"], e["kind"], e["id"], e["actor"]) for e in events] == [
        ("faq.create", "faq", faq_id, "bootstrap-admin"), ("faq.delete", "faq", faq_id, "bootstrap-admin")]
    assert events[0]["details"]["question"] == "Do you sell gift cards?"


REFUSE_ANSWERS = {
    # Fires when a bot turn's transaction updates its conversation, after the turn and its outbox rows were
    # written (dialogue/store.py record_reply), so the whole transaction, outbox included, rolls back.
    "sqlite": ["CREATE TRIGGER refuse_answers BEFORE UPDATE OF last_activity_at ON conversations "
               "WHEN EXISTS (SELECT 1 FROM turns WHERE conversation_id = NEW.id AND role = 'bot' "
               "AND text LIKE 'You can return any Nimbus device%') "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse_answers() RETURNS trigger AS $$ BEGIN IF EXISTS (SELECT 1 FROM turns WHERE "
        "conversation_id = NEW.id AND role = 'bot' AND text LIKE 'You can return any Nimbus device%') THEN "
        "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_answers BEFORE UPDATE ON conversations FOR EACH ROW EXECUTE FUNCTION refuse_answers()"],
}
DROP_REFUSAL = {"sqlite": ["DROP TRIGGER refuse_answers"],
                "postgresql": ["DROP TRIGGER refuse_answers ON conversations", "DROP FUNCTION refuse_answers()"]}


def _run_sql(services, statements: list[str]) -> None:
    with services.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_a_rolled_back_turn_sends_no_event(services, receiver, admin_headers, sender):
    dialect = services.engine.dialect.name
    with bot(services) as client:
        subscribe(client, admin_headers, receiver.url, ["message.received", "message.answered"])
        _run_sql(services, REFUSE_ANSWERS[dialect])
        try:
            refused = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": FAQ_QUESTION})
        finally:
            _run_sql(services, DROP_REFUSAL[dialect])
        assert refused.status_code == 500
        chat(client, sender, "Hello")
        receiver.wait_until(lambda r: len(r.accepted()) == 3, "three events arrived")
        time.sleep(0.5)
    events = [request.event for request in receiver.accepted()]
    assert [(e["type"], e["data"].get("text")) for e in events] == [
        ("message.received", FAQ_QUESTION), ("message.received", "Hello"),
        ("message.answered", events[2]["data"]["text"])]
    with services.sessions() as session:
        bot_turns = session.scalars(select(TurnRecord.id).where(
            TurnRecord.conversation_id == events[0]["data"]["conversation_id"], TurnRecord.role == "bot")).all()
    assert bot_turns == [events[2]["data"]["turn_id"]]  # the refused answer was not stored, nor told


@pytest.mark.parametrize("body, where, says", [
    ({"url": "ftp://crm.example.com/hook", "events": ["message.received"]}, "url", "http:// or https://"),
    ({"url": "crm.example.com/hook", "events": ["message.received"]}, "url", "http:// or https://"),
    ({"url": "https://crm.example.com/hook", "events": ["message.sent"]}, "events", "conversation.started"),
    ({"url": "https://crm.example.com/hook", "events": []}, "events", "at least 1"),
    ({"url": "https://crm.example.com/hook", "events": ["message.received"], "secret": ""}, "secret", "16"),
    ({"url": "https://crm.example.com/hook", "events": ["message.received"], "secret": "   "}, "secret", "16"),
])
def test_bad_subscriptions_are_refused_with_422_and_nothing_is_stored(client, admin_headers, body, where, says):
    response = client.post("/admin/webhooks", headers=admin_headers, json={"secret": SECRET} | body)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"][:2] == ["body", where] and says in problem["msg"]
    assert client.get("/admin/webhooks", headers=admin_headers).json() == {"data": [], "count": 0}


def test_subscriptions_are_admin_only_audited_and_never_show_the_secret(client, admin_headers, make_key, services):
    body = {"url": "https://crm.example.com/hooks/helpdesk", "events": ["conversation.handoff"], "secret": SECRET}
    with services.sessions() as session:
        before = session.scalar(select(func.max(AuditRecord.id))) or 0  # ids of deleted subscriptions come back
    assert client.post("/admin/webhooks", headers=make_key("editor"), json=body).status_code == 403
    created = client.post("/admin/webhooks", headers=admin_headers, json=body)
    assert created.status_code == 201
    assert SECRET not in created.text
    listed = client.get("/admin/webhooks", headers=admin_headers)
    assert listed.json()["count"] == 1 and SECRET not in listed.text
    assert listed.json()["data"][0]["status"] == "active" and listed.json()["data"][0]["pending"] == 0
    subscription_id = created.json()["id"]
    assert client.delete(f"/admin/webhooks/{subscription_id}", headers=admin_headers).status_code == 204
    assert client.delete(f"/admin/webhooks/{subscription_id}", headers=admin_headers).status_code == 404
    assert client.get(f"/admin/webhooks/{subscription_id}/deliveries", headers=admin_headers).status_code == 404
    with services.sessions() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.target == f"webhook:{subscription_id}",
                                                                 AuditRecord.id > before)
                               .order_by(AuditRecord.id)).all()
    assert [(row.action, row.actor) for row in rows] == [("webhook.create", "bootstrap-admin"),
                                                         ("webhook.delete", "bootstrap-admin")]
    assert all(SECRET not in str(row.details) for row in rows)
