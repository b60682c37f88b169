"""A real `helpdesk serve` killed with SIGKILL while it delivers webhooks: after a restart every event is
delivered, in order per conversation, none lost (at-least-once: the event id tells a receiver a repeat)."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import select

from core.outbox import OutboxEventRecord, WebhookDeliveryRecord
from tests.support.live_server import free_port, wait_until_healthy
from tests.support.webhook_receiver import Receiver, verify

pytestmark = pytest.mark.integration

TOKEN = "crash-admin-token"
SECRET = "crash-test-secret-0123456789"
FAQ_QUESTION = "What is the return policy for devices?"


def _serve(data_dir, database_url: str, models_dir) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HELPDESK_DATA_DIR": str(data_dir),
           "HELPDESK_DATABASE_URL": database_url, "HELPDESK_MODELS_DIR": str(models_dir), "HELPDESK_DEVICE": "cpu",
           "HELPDESK_ADMIN_TOKEN": TOKEN, "HELPDESK_MAX_NEW_TOKENS": "24",
           # A lease far longer than the test: what frees the killed process's claims is that it is dead.
           "HELPDESK_WEBHOOK_TIMEOUT_SECONDS": "300", "HELPDESK_WEBHOOK_LEASE_SECONDS": "900",
           "HELPDESK_WEBHOOK_BACKOFF_SECONDS": "0.2", "HELPDESK_WEBHOOK_POLL_SECONDS": "0.2"}
    log = (data_dir.parent / f"serve-{port}.log").open("w")
    # One process, so that kill -9 hits the process that holds the deliveries (with --workers N the workers
    # would outlive it and stop by themselves).
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--sample-kb", "--workers", "1",
                               "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(server, base, log.name)
    return server, base


def _wait(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _deliveries(sessions) -> list[tuple[int, str, str, str | None]]:
    with sessions() as session:
        return session.execute(
            select(WebhookDeliveryRecord.id, OutboxEventRecord.event_id, WebhookDeliveryRecord.status,
                   WebhookDeliveryRecord.lease_owner)
            .join(OutboxEventRecord, OutboxEventRecord.id == WebhookDeliveryRecord.event_id)
            .order_by(WebhookDeliveryRecord.id)).all()


def test_deliveries_pending_at_a_kill_are_sent_after_the_restart_in_order(migrated_database, tmp_path,
                                                                          models_dir):
    url, sessions = migrated_database
    receiver = Receiver().start()
    receiver.hold()  # the receiver is stuck: the first delivery of each conversation hangs in flight
    try:
        server, base = _serve(tmp_path / "data", url, models_dir)
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            subscribed = httpx.post(f"{base}/admin/webhooks", headers=headers, json={
                "url": receiver.url, "secret": SECRET,
                "events": ["conversation.started", "message.received", "message.answered"]})
            assert subscribed.status_code == 201, subscribed.text
            for sender in ("ann", "bob"):
                for message in ("Hello", FAQ_QUESTION):
                    answer = httpx.post(f"{base}/webhooks/rest/webhook", timeout=120,
                                        json={"sender": sender, "message": message})
                    assert answer.status_code == 200, answer.text
            _wait(lambda: len([row for row in _deliveries(sessions) if row.lease_owner]) == 2,
                  "one delivery per conversation was in flight")
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
        before = _deliveries(sessions)
        assert len(before) == 10 and {row.status for row in before} == {"pending"}

        receiver.release()  # answers the two cut-off requests into closed sockets, then works
        server, base = _serve(tmp_path / "data", url, models_dir)
        try:
            _wait(lambda: {row.status for row in _deliveries(sessions)} == {"sent"}, "everything was sent")
            time.sleep(1.0)  # nothing more may arrive
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    finally:
        receiver.stop()

    got = receiver.accepted()
    assert all(verify(SECRET, request.headers["x-helpdesk-signature"], request.body) for request in got)
    first_seen = list(dict.fromkeys(request.event["id"] for request in got))
    assert sorted(first_seen) == sorted(row.event_id for row in before)  # none lost
    assert len(got) <= 12  # at most the two in flight came twice
    by_conversation: dict[int, list[str]] = {}
    for request in got:
        by_conversation.setdefault(request.event["data"]["conversation_id"], []).append(request.event["id"])
    order = {row.event_id: row.id for row in before}
    for ids in by_conversation.values():
        assert list(dict.fromkeys(ids)) == sorted(dict.fromkeys(ids), key=order.get)  # in order, per conversation
        assert len(dict.fromkeys(ids)) == 5
