"""Crash recovery: work a dead process left is taken over, and nothing is recorded or sent twice.

The end-to-end test kills a real `helpdesk serve` with SIGKILL in the middle of two answers (one stuck in
delivery, one in generation) and starts it again over the same database, with a local Telegram Bot API
server. Each backend gets a database of its own: the sweep takes over whatever it finds orphaned.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from bot.connectors.ledger import Ledger
from bot.connectors.records import ChannelEventRecord, DeliveryRecord
from core.database import utcnow
from core.processes import ProcessRecord, ProcessTable
from dialogue.messages import InboundMessage, Reply, ReplyKind
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord
from dialogue.store import ConversationStore
from retrieval.jobs import JobRecord, JobRunner
from tests.support.live_server import free_port, wait_until_healthy
from tests.support.platform_servers import TelegramApiServer

pytestmark = pytest.mark.integration

BOT_TOKEN = "123456:TEST-recovery-token"
SECRET = "recovery-secret"
FAQ_QUESTION = "What is the return policy for devices?"
GENERATED_QUESTION = "Does Nimbus Plus extend the warranty on a thermostat I bought last year?"
STALE = timedelta(seconds=60)


def _dead_worker(sessions) -> str:
    """A worker row whose heartbeat stopped long ago: what a SIGKILLed process leaves."""
    with sessions() as session:
        session.add(ProcessRecord(id="gone-host:1:dead", host="gone-host", pid=1,
                                 heartbeat_at=utcnow() - 2 * STALE))
        session.commit()
    return "gone-host:1:dead"


def test_a_worker_is_orphaned_when_its_heartbeat_is_stale_or_it_retired(migrated_database):
    _, sessions = migrated_database
    alive, other = ProcessTable(sessions, STALE), ProcessTable(sessions, STALE)
    alive.register()
    other.register()
    dead = _dead_worker(sessions)

    def orphaned(owner: str | None) -> bool:
        with sessions() as session:
            return session.scalar(select(JobRecord.id).where(JobRecord.id == job_id,
                                                             alive.orphaned(JobRecord.owner))) is not None

    with sessions() as session:
        record = JobRecord(kind="fetch", status="running", actor="t", owner=None)
        session.add(record)
        session.commit()
        job_id = record.id

    for owner, expected in ((alive.id, False), (other.id, False), (dead, True), (None, True)):
        with sessions() as session:
            session.execute(update(JobRecord).where(JobRecord.id == job_id).values(owner=owner))
            session.commit()
        assert orphaned(owner) is expected, owner
    other.retire()  # a clean shutdown frees its leftovers at once
    with sessions() as session:
        session.execute(update(JobRecord).where(JobRecord.id == job_id).values(owner=other.id))
        session.commit()
    assert orphaned(other.id) is True
    other.beat()  # a beat after its row vanished registers it again
    assert orphaned(other.id) is False


def test_registering_forgets_earlier_processes_of_this_host_that_are_gone(migrated_database):
    _, sessions = migrated_database
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    gone_pid = int(finished.stdout)
    host = socket.gethostname()
    sibling = ProcessTable(sessions, STALE)  # another instance in this very process (as in these tests)
    sibling.register()
    with sessions() as session:
        session.add(ProcessRecord(id=f"{host}:{gone_pid}:aaaa:1", host=host, pid=gone_pid, heartbeat_at=utcnow()))
        # A restarted container: same host name, same pid as this process, but an earlier life.
        session.add(ProcessRecord(id=f"{host}:{os.getpid()}:bbbb:1", host=host, pid=os.getpid(),
                                 heartbeat_at=utcnow()))
        session.add(ProcessRecord(id="elsewhere:1:cccc:1", host="elsewhere", pid=gone_pid, heartbeat_at=utcnow()))
        session.commit()
    ProcessTable(sessions, STALE).register()
    with sessions() as session:
        left = set(session.scalars(select(ProcessRecord.id)))
    # Gone without waiting a minute for their heartbeat to go stale:
    assert f"{host}:{gone_pid}:aaaa:1" not in left and f"{host}:{os.getpid()}:bbbb:1" not in left
    assert "elsewhere:1:cccc:1" in left  # another machine's pids mean nothing here
    assert sibling.id in left


def test_a_replayed_message_is_recorded_once_and_gets_its_stored_reply(migrated_database):
    _, sessions = migrated_database
    store = ConversationStore(sessions, timedelta(hours=1))
    message = InboundMessage("telegram", "42", "Where is my order?", message_id="update:7")
    first = store.record_user_message(message, message.text)
    assert not first.replayed and store.stored_reply(first) is None
    again = store.record_user_message(message, message.text)
    assert again.replayed and again.turn_id == first.turn_id
    assert store.stored_reply(again) is None  # recorded but not answered yet: the caller answers it now

    reply_id = store.record_reply(Reply("It ships today.", ReplyKind.FAQ, first.conversation_id), 5.0, None)
    stored = store.stored_reply(store.record_user_message(message, message.text))
    assert (stored.text, stored.kind, stored.turn_id) == ("It ships today.", ReplyKind.FAQ, reply_id)
    other = store.record_user_message(InboundMessage("slack", "42", "Where is my order?", message_id="update:7"),
                                      "Where is my order?")
    assert not other.replayed  # ids are per channel
    with sessions() as session:
        assert session.scalar(select(TurnRecord.id).where(TurnRecord.role == "user").order_by(
            TurnRecord.id.desc())) == other.turn_id
        assert len(session.scalars(select(TurnRecord).where(TurnRecord.role == "user")).all()) == 2


def test_two_processes_sweeping_at_once_take_each_orphan_exactly_once(migrated_database):
    _, sessions = migrated_database
    dead = _dead_worker(sessions)
    with sessions() as session:
        for number in range(30):
            session.add(ChannelEventRecord(channel="telegram", event_key=f"update:{number}", owner=dead,
                                           payload={"number": number}))
            session.add(DeliveryRecord(channel="telegram", target={"chat_id": number}, turn_id=None, part=1,
                                       parts=1, text=f"reply {number}", status="pending", attempts=1, owner=dead))
        session.add(DeliveryRecord(channel="telegram", target={"chat_id": 99}, part=1, parts=1, text="sent",
                                   status="sent", attempts=1, owner=dead))
        session.commit()
    workers = [ProcessTable(sessions, STALE) for _ in range(2)]
    for worker in workers:
        worker.register()
    ledgers = [Ledger(sessions, worker.id) for worker in workers]
    since = utcnow() - timedelta(hours=1)

    async def sweep_both():
        events = await asyncio.gather(*(ledger.take_orphaned_events(workers[0].orphaned, ["telegram"], since)
                                        for ledger in ledgers))
        deliveries = await asyncio.gather(*(ledger.take_orphaned_deliveries(workers[0].orphaned, ["telegram"],
                                                                            since) for ledger in ledgers))
        return events, deliveries

    try:
        events, deliveries = asyncio.run(sweep_both())
    finally:
        for ledger in ledgers:
            ledger.close()
    numbers = sorted(payload["number"] for taken in events for payload in taken)
    assert numbers == list(range(30))
    texts = sorted(text for taken in deliveries for parts in taken for text in parts.texts)
    assert texts == sorted(f"reply {number}" for number in range(30))  # the sent one is not resent
    with sessions() as session:  # every row now belongs to the process that took it
        owners = set(session.scalars(select(ChannelEventRecord.owner))) | set(
            session.scalars(select(DeliveryRecord.owner).where(DeliveryRecord.status == "pending")))
    assert owners <= {worker.id for worker in workers}


def test_a_knowledge_job_of_a_dead_process_ends_with_an_error_saying_what_was_left(migrated_database):
    _, sessions = migrated_database
    dead = _dead_worker(sessions)
    alive = ProcessTable(sessions, STALE)
    alive.register()
    with sessions() as session:
        half = JobRecord(kind="fetch", status="running", actor="ann", total=4, done=2, owner=dead, errors=[],
                         results=[{"item": "a"}, {"item": "b"}])
        queued = JobRecord(kind="fetch", status="queued", actor="ann", total=3, done=0, owner=None, errors=[],
                           results=[])
        mine = JobRecord(kind="fetch", status="running", actor="ann", total=3, done=1, owner=alive.id,
                         errors=[], results=[])
        session.add_all([half, queued, mine])
        session.commit()
    ended = JobRunner(sessions, alive.id).fail_abandoned(alive.orphaned)
    assert sorted(ended) == sorted([half.id, queued.id])
    with sessions() as session:
        half, queued, mine = (session.get(JobRecord, record.id) for record in (half, queued, mine))
    assert (half.status, queued.status, mine.status) == ("partial", "failed", "running")
    assert half.finished_at is not None
    assert half.errors[-1]["item"] == "2 item(s) not processed"
    assert "submit the remaining items again" in half.errors[-1]["message"]


# -- a real process killed mid-answer --------------------------------------------------------------------


def _serve(data_dir, database_url: str, models_dir, api: TelegramApiServer, **extra) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HELPDESK_DATA_DIR": str(data_dir),
           "HELPDESK_DATABASE_URL": database_url, "HELPDESK_MODELS_DIR": str(models_dir),
           "HELPDESK_DEVICE": "cpu", "HELPDESK_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
           "HELPDESK_TELEGRAM_SECRET_TOKEN": SECRET, "HELPDESK_TELEGRAM_API_URL": api.url, **extra}
    log = (data_dir.parent / f"serve-{port}.log").open("w")  # a file, not a pipe nobody drains
    # One process: the test kills it with SIGKILL mid-answer (with --workers N the workers would outlive it).
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--sample-kb", "--workers", "1",
                               "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(server, base, log.name)
    return server, base


def _update(update_id: int, chat: int, text: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "from": {"id": chat, "is_bot": False, "first_name": "Ann"}, "chat": {"id": chat, "type": "private"}}}


def _turns(sessions, chat: int) -> list[tuple[str, str]]:
    with sessions() as session:
        return [(turn.role, turn.text) for turn in session.scalars(
            select(TurnRecord).join(ConversationRecord)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == "telegram", ChannelIdentityRecord.external_id == str(chat))
            .order_by(TurnRecord.id))]


def _wait(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def test_a_killed_server_answers_and_delivers_everything_once_after_a_restart(migrated_database, tmp_path,
                                                                              models_dir):
    url, sessions = migrated_database
    api = TelegramApiServer(BOT_TOKEN).start()
    try:
        # Telegram is down: the FAQ answer to chat 1 is recorded, and its delivery waits a minute to retry.
        api.fail_next("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"},
                      times=100)
        server, base = _serve(tmp_path / "data", url, models_dir, api, HELPDESK_DELIVERY_BACKOFF_SECONDS="60",
                              HELPDESK_MAX_NEW_TOKENS="200")
        try:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert httpx.post(f"{base}/webhooks/telegram/webhook", json=_update(1001, 1, FAQ_QUESTION),
                              headers=headers).status_code == 200
            api.wait_for("sendMessage", 1)

            def stuck_in_delivery() -> bool:
                with sessions() as session:
                    return session.scalar(select(DeliveryRecord.attempts).where(
                        DeliveryRecord.status == "pending")) == 1
            _wait(stuck_in_delivery, "the first attempt to deliver to chat 1 was recorded")

            # Chat 2 asks what the LM must answer; the process dies while it generates.
            assert httpx.post(f"{base}/webhooks/telegram/webhook", json=_update(1002, 2, GENERATED_QUESTION),
                              headers=headers).status_code == 200
            _wait(lambda: _turns(sessions, 2) == [("user", GENERATED_QUESTION)], "chat 2's message was recorded")
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
        assert _turns(sessions, 2) == [("user", GENERATED_QUESTION)], "killed too late: the reply was stored"

        api.reset()  # Telegram is back
        server, base = _serve(tmp_path / "data", url, models_dir, api, HELPDESK_DELIVERY_BACKOFF_SECONDS="0.05",
                              HELPDESK_MAX_NEW_TOKENS="24")
        try:
            sent = api.wait_for("sendMessage", 2, timeout=180)
            _wait(lambda: _turns(sessions, 2)[-1][0] == "bot", "chat 2's reply was stored")
            time.sleep(1.5)  # nothing more may arrive
            sent = api.calls_to("sendMessage")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    finally:
        api.stop()

    by_chat = {}
    for call in sent:
        by_chat.setdefault(int(call.body["chat_id"]), []).append(call.body["text"])
    chat_1, chat_2 = _turns(sessions, 1), _turns(sessions, 2)
    assert [role for role, _ in chat_1] == ["user", "bot"]  # recorded once, not re-answered
    assert [role for role, _ in chat_2] == ["user", "bot"]  # recorded once, answered after the restart
    assert by_chat == {1: [chat_1[1][1]], 2: [chat_2[1][1]]}  # each reply sent exactly once
    with sessions() as session:
        assert set(session.scalars(select(DeliveryRecord.status))) == {"sent"}
        unprocessed = session.scalars(select(ChannelEventRecord.event_key).where(
            ChannelEventRecord.processed_at.is_(None))).all()
        assert unprocessed == []
        kept = select(ChannelEventRecord.id).where(ChannelEventRecord.payload.is_not(None))
        assert session.scalars(kept).all() == []  # not kept once answered (SQL NULL, not JSON null)
        assert session.scalars(select(ProcessRecord)).all() == []  # the clean stop retired the second process


def _rest_turns(sessions, sender: str) -> list[tuple[str, str]]:
    with sessions() as session:
        return [(turn.role, turn.text) for turn in session.scalars(
            select(TurnRecord).join(ConversationRecord)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == "rest", ChannelIdentityRecord.external_id == sender)
            .order_by(TurnRecord.id))]


def test_a_resend_after_a_kill_is_stored_once_and_answered_once(migrated_database, tmp_path, models_dir):
    """The REST client whose request died with the server sends again, with and without a message id."""
    url, sessions = migrated_database
    api = TelegramApiServer(BOT_TOKEN).start()
    senders = {"with-id": {"Idempotency-Key": "msg-0001"}, "without-id": {}}
    try:
        server, base = _serve(tmp_path / "data", url, models_dir, api, HELPDESK_MAX_NEW_TOKENS="200")
        try:
            for sender, headers in senders.items():
                threading.Thread(target=_post_ignoring_errors, daemon=True, args=(
                    f"{base}/webhooks/rest/webhook", {"sender": sender, "message": GENERATED_QUESTION},
                    headers)).start()
            for sender in senders:
                _wait(lambda sender=sender: _rest_turns(sessions, sender) == [("user", GENERATED_QUESTION)],
                      f"{sender}'s message was recorded")
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
        for sender in senders:
            assert _rest_turns(sessions, sender) == [("user", GENERATED_QUESTION)], "killed too late"

        server, base = _serve(tmp_path / "data", url, models_dir, api, HELPDESK_MAX_NEW_TOKENS="24")
        try:
            for sender, headers in senders.items():
                first = httpx.post(f"{base}/webhooks/rest/webhook", headers=headers, timeout=120,
                                   json={"sender": sender, "message": GENERATED_QUESTION})
                again = httpx.post(f"{base}/webhooks/rest/webhook", headers=headers, timeout=120,
                                   json={"sender": sender, "message": GENERATED_QUESTION})
                assert first.status_code == 200, first.text
                turns = _rest_turns(sessions, sender)
                assert [role for role, _ in turns[:2]] == ["user", "bot"]  # one copy, answered
                assert first.json()[0]["text"] == turns[1][1]
                if headers:  # the same id again: the stored reply, nothing new stored
                    # (a stored reply carries its sources' ids and titles, not the cited snippets)
                    assert [(r["text"], r["custom"]["kind"], r["custom"]["turn_id"]) for r in again.json()] == \
                        [(r["text"], r["custom"]["kind"], r["custom"]["turn_id"]) for r in first.json()]
                    assert len(turns) == 2
                else:  # answered by now, so the same text again is a new message
                    assert [role for role, _ in turns] == ["user", "bot", "user", "bot"]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    finally:
        api.stop()


def _post_ignoring_errors(url: str, body: dict, headers: dict) -> None:
    try:
        httpx.post(url, json=body, headers=headers, timeout=300)
    except httpx.HTTPError:
        pass  # the server is killed mid-request: that is the point
