"""Several real server processes on one database: one customer's messages fired at both.

Two `helpdesk serve` processes (their own data folders, as two hosts would have) share one SQLite file or
one PostgreSQL database. A customer's messages go to both at once, each also resent to the other process
with the same Idempotency-Key while the first copy is being answered; a Telegram update is delivered to
both; an admin edit on one must be seen by the other. The database is then read back.
"""

import asyncio
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from bot.cli.serve import SAMPLE_FAQS
from bot.connectors.chat_input import scoped_message_id
from core.database import make_engine, make_session_factory
from dialogue.context import is_follow_up, split_question
from dialogue.policy import wants_person
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord
from tests.conftest import ADMIN_TOKEN, BACKENDS
from tests.support.live_server import free_port, wait_until_healthy
from tests.support.platform_servers import TelegramApiServer
from tests.support.postgres import fresh_postgres_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOT_TOKEN = "123456:TEST-processes-token"
SECRET = "processes-secret"
FAQS = yaml.safe_load(SAMPLE_FAQS.read_text())
ANSWER_OF = {faq["question"]: faq["answer"] for faq in FAQS}
# Questions that stand alone (no follow-up, no request for a person, one thing asked): each gets its own answer.
QUESTIONS = [faq["question"] for faq in FAQS if not wants_person(faq["question"]) and not is_follow_up(faq["question"])
             and split_question(faq["question"]) == [faq["question"]]][:12]


def _start(data_dir, database_url: str, models_dir, api_url: str, sample_kb: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HELPDESK_DATA_DIR": str(data_dir),
           "HELPDESK_DATABASE_URL": database_url, "HELPDESK_MODELS_DIR": str(models_dir), "HELPDESK_DEVICE": "cpu",
           "HELPDESK_ADMIN_TOKEN": ADMIN_TOKEN, "HELPDESK_MAX_NEW_TOKENS": "8",
           "HELPDESK_TELEGRAM_BOT_TOKEN": BOT_TOKEN, "HELPDESK_TELEGRAM_SECRET_TOKEN": SECRET,
           "HELPDESK_TELEGRAM_API_URL": api_url}
    data_dir.mkdir(parents=True)
    log = (data_dir / "serve.log").open("w")
    command = [sys.executable, "-m", "bot.cli", "serve", "--workers", "1", "--port", str(port)]
    return subprocess.Popen(command + (["--sample-kb"] if sample_kb else []), env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True), f"http://127.0.0.1:{port}"


def _started_workers(log: Path) -> set[str]:
    return set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))


def _wait_healthy(server: subprocess.Popen, base: str) -> None:
    wait_until_healthy(server, base, "its serve.log", timeout=400)


@pytest.fixture(params=BACKENDS, scope="module")
def two_servers(request, tmp_path_factory, models_dir):
    """Two server processes on one database: (base A, base B, sessions, Telegram API)."""
    tmp = tmp_path_factory.mktemp(f"processes-{request.param}")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp / 'shared.db'}", None
    else:
        url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    api = TelegramApiServer(BOT_TOKEN).start()
    servers = []
    try:
        first = _start(tmp / "a", url, models_dir, api.url, sample_kb=True)
        servers.append(first[0])
        _wait_healthy(*first)  # the first imports the sample FAQs; the second finds them in the database
        second = _start(tmp / "b", url, models_dir, api.url, sample_kb=False)
        servers.append(second[0])
        _wait_healthy(*second)
        engine = make_engine(url)
        yield first[1], second[1], make_session_factory(engine), api
        engine.dispose()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=60)
        api.stop()
        if drop:
            drop()


def _rest_turns(sessions, sender: str) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        return [(turn.role, turn.text, turn.external_id) for turn in session.scalars(
            select(TurnRecord).join(ConversationRecord)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == "rest", ChannelIdentityRecord.external_id == sender)
            .order_by(TurnRecord.id))]


async def _send(client: httpx.AsyncClient, base: str, sender: str, key: str, text: str) -> dict:
    response = await client.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                 headers={"Idempotency-Key": key})
    assert response.status_code == 200, response.text
    [reply] = response.json()
    return reply


async def _customer_at_both(a: str, b: str, sender: str) -> tuple[list[list[str]], dict[str, list[dict]]]:
    """Two tabs of one customer, one per process, each sending its messages in order; every message is
    also resent at once to the other process with the same key. Returns each tab's keys in send order and
    the replies each key got."""
    tabs = [[f"{tab}-{n}" for n in range(len(QUESTIONS) // 2)] for tab in ("x", "y")]
    text_of = {key: QUESTIONS[2 * n + i] for i, keys in enumerate(tabs) for n, key in enumerate(keys)}
    replies: dict[str, list[dict]] = {}

    async def tab(keys: list[str], here: str, there: str) -> None:
        for key in keys:
            replies[key] = list(await asyncio.gather(_send(client, here, sender, key, text_of[key]),
                                                     _send(client, there, sender, key, text_of[key])))

    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(tab(tabs[0], a, b), tab(tabs[1], b, a))
    return tabs, replies


def test_one_customer_at_two_processes_is_answered_in_order_and_exactly_once(two_servers):
    a, b, sessions, _ = two_servers
    sender = "two-tabs"
    tabs, replies = asyncio.run(_customer_at_both(a, b, sender))

    turns = _rest_turns(sessions, sender)
    users = [turn for turn in turns if turn[0] == "user"]
    assert len(users) == len(QUESTIONS)  # every message once, none twice though each was sent twice
    assert len({turn[2] for turn in users}) == len(QUESTIONS)
    # Strictly one turn at a time: each customer turn is followed by its own answer before the next one.
    assert [role for role, _, _ in turns] == ["user", "bot"] * len(QUESTIONS)
    for (_, question, _), (_, answer, _) in zip(turns[::2], turns[1::2]):
        assert answer == ANSWER_OF[question]
    # Both copies of a message got the same stored reply, whichever process answered it.
    for key, (first, second) in replies.items():
        assert first["custom"]["turn_id"] == second["custom"]["turn_id"], key
        assert first["text"] == second["text"]
    # Each tab's messages are stored in the order that tab sent them.
    stored_order = [external_id for role, _, external_id in turns if role == "user"]
    for keys in tabs:
        positions = [stored_order.index(f"rest:{scoped_message_id(sender, key)}") for key in keys]
        assert positions == sorted(positions)


def test_a_telegram_update_delivered_to_both_processes_is_answered_once(two_servers):
    a, b, sessions, api = two_servers
    question = QUESTIONS[0]
    update = {"update_id": 77001, "message": {
        "message_id": 77001, "date": int(time.time()), "text": question,
        "from": {"id": 4242, "is_bot": False, "first_name": "Ann"}, "chat": {"id": 4242, "type": "private"}}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    before = len(api.calls_to("sendMessage"))
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda base: httpx.post(f"{base}/webhooks/telegram/webhook", json=update,
                                                         headers=headers, timeout=60).status_code, [a, b, a, b]))
    assert statuses == [200] * 4
    api.wait_for("sendMessage", before + 1)
    time.sleep(2)  # a second answer, if any, would have been sent by now
    sent = api.calls_to("sendMessage")[before:]
    assert [call.body["text"] for call in sent] == [ANSWER_OF[question]]


def test_an_admin_edit_on_one_process_is_answered_by_the_other_within_a_second(two_servers):
    a, b, _, _ = two_servers
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    faqs = httpx.get(f"{a}/admin/faqs", params={"limit": 100}, headers=admin).json()["data"]
    faq = next(item for item in faqs if item["question"] == QUESTIONS[1])
    new_answer = faq["answer"] + " (Updated: parcels now also ship on Saturdays.)"
    edited = httpx.put(f"{a}/admin/faqs/{faq['id']}", headers=admin, json={
        "question": faq["question"], "answer": new_answer, "alt_questions": faq["alt_questions"],
        "tags": faq["tags"]})
    assert edited.status_code == 200, edited.text
    seconds = _seconds_until_answered(b, faq["question"], new_answer, "edit-watch")
    assert seconds <= 1.0, f"process B gave the old answer for {seconds:.2f} s"

    question = "Do you sell gift cards for Nimbus devices?"
    created = httpx.post(f"{a}/admin/faqs", headers=admin, json={
        "question": question,
        "answer": "Yes: digital gift cards from 10 to 200 in the Nimbus app under Shop > Gift cards.",
        "alt_questions": ["Can I buy a Nimbus gift card?", "gift voucher for a friend", "Do you have gift cards?"],
        "tags": ["orders"]})
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    started = time.monotonic()
    found = ranked = None
    # Seconds after the edit at which a search was sent that saw it (a busy machine may answer it later).
    while time.monotonic() - started < 30 and ranked is None:
        sent = time.monotonic() - started
        hits = httpx.post(f"{b}/admin/search", headers=admin, json={"query": question}).json()["hits"]
        if new := [hit for hit in hits if hit["faq_id"] == new_id]:
            found = sent if found is None else found
            if new[0]["scores"]["probability"] and hits[0] == new[0]:  # B's classifier knows the new FAQ
                ranked = sent
        time.sleep(0.05)
    assert found is not None and found <= 1.0, f"process B found the new FAQ after {found} s"
    # Ranking it first by the classifier takes a refit in process B (retrieval/calibrator.py): ~0.3 s on an
    # idle machine, 5.5 s once on this shared one at load 18; it must not wait for a calibration of the
    # thresholds (10-30 s idle, after a 1 s debounce), which is what the bound tells apart.
    assert ranked is not None and ranked <= 10.0, f"process B's classifier knew the new FAQ after {ranked} s"
    on_a = httpx.post(f"{a}/admin/search", headers=admin, json={"query": question}).json()
    on_b = httpx.post(f"{b}/admin/search", headers=admin, json={"query": question}).json()
    assert on_b["hits"][0]["scores"]["probability"] == pytest.approx(on_a["hits"][0]["scores"]["probability"],
                                                                      abs=1e-4)


def _seconds_until_answered(base: str, question: str, answer: str, sender: str, limit: float = 10) -> float:
    """Seconds after the edit at which a question was sent that `base` answered with `answer` (each try a
    new customer)."""
    started = time.monotonic()
    attempt = 0
    while time.monotonic() - started < limit:
        attempt += 1
        sent = time.monotonic() - started  # the question was sent this long after the edit
        response = httpx.post(f"{base}/webhooks/rest/webhook", timeout=60,
                              json={"sender": f"{sender}-{attempt}", "message": question})
        if response.status_code == 200 and response.json()[0]["text"] == answer:
            return sent
        time.sleep(0.05)
    return float("inf")



def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_serve_with_two_workers_prepares_once_and_serves_the_sample_shop(tmp_path, models_dir):
    """README's first command on a 2-core machine: `serve --sample-kb` runs two workers by default."""
    url, port = f"sqlite:///{tmp_path / 'workers.db'}", free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HELPDESK_DATA_DIR": str(tmp_path / "data"),
           "HELPDESK_DATABASE_URL": url, "HELPDESK_MODELS_DIR": str(models_dir), "HELPDESK_DEVICE": "cpu",
           "HELPDESK_ADMIN_TOKEN": ADMIN_TOKEN, "HELPDESK_MAX_NEW_TOKENS": "8"}
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--sample-kb", "--workers", "2",
                                   "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        _wait_healthy(server, base)
        actions = httpx.get(f"{base}/admin/actions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        assert {"action_order_status", "action_cancel_order"} <= {action["name"] for action in actions["data"]}
        assert "<h1>Nimbus Home help</h1>" in httpx.get(f"{base}/").text  # the sample shop's name, not "our company"
        for sender in ("w1", "w2", "w3", "w4"):
            replies = httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": QUESTIONS[0]},
                                 timeout=60).json()
            assert replies[0]["text"] == ANSWER_OF[QUESTIONS[0]]
        # /health answers as soon as one worker is up; the other may still be loading its models.
        deadline = time.monotonic() + 120
        while len(started := _started_workers(tmp_path / "serve.log")) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(started) == 2 and {int(pid) for pid in started} <= set(_children(server.pid))
    finally:
        os.killpg(server.pid, 15)
        server.wait(60)
