"""HELPDESK_LM_BACKEND=openai against a real OpenAI-compatible server (`python -m llama_cpp.server` on the
embedded GGUF), plus a server that fails on purpose, and the bot's fallback when the LM server is down."""

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.app import create_app
from bot.cli.serve import SAMPLE_FAQS
from bot.services import build_services
from core.errors import LMUnavailable
from dialogue.lm.sources import EMBEDDED_LM_ID, embedded_gguf_path
from dialogue.lm.openai_generator import OpenAIGenerator
from dialogue.records import TurnRecord
from retrieval.faq_files import read_faq_file
from tests.conftest import BACKENDS, _fresh_postgres_database, make_settings
from tests.integration.test_llamacpp_backend import ask
from tests.integration.test_streaming import GENERATED_QUESTION
from tests.support.live_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def lm_server(tmp_path_factory) -> str:
    port = free_port()
    log = (tmp_path_factory.mktemp("lm-server") / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf_path()), "--model_alias",
         EMBEDDED_LM_ID, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail(f"llama_cpp.server did not start; see {log.name}")
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


def test_a_reply_streams_from_the_server(lm_server):
    generator = OpenAIGenerator(lm_server, EMBEDDED_LM_ID)
    pieces: list[str] = []
    run = generator.generate(ask("How long do I have to return a device?"), max_new_tokens=40, temperature=0,
                             on_text=pieces.append)
    assert run.text and len(pieces) >= 3
    assert "".join(pieces).startswith(run.text) or "".join(pieces).strip() == run.text
    assert run.prompt_tokens > 50 and run.model_id == EMBEDDED_LM_ID


def test_max_tokens_and_temperature_reach_the_server(lm_server):
    generator = OpenAIGenerator(lm_server, EMBEDDED_LM_ID)
    messages = ask("Tell me everything about returns, in detail.")
    short = generator.generate(messages, max_new_tokens=5, temperature=0)
    assert short.new_tokens == 5
    greedy = {generator.generate(messages, max_new_tokens=16, temperature=0).text for _ in range(2)}
    assert len(greedy) == 1
    sampled = {generator.generate(messages, max_new_tokens=16, temperature=1.5).text for _ in range(4)}
    assert len(sampled) >= 2


def test_a_server_that_is_down_is_a_clear_error_after_the_retries():
    generator = OpenAIGenerator(f"http://127.0.0.1:{free_port()}", "any", retries=2, backoff_seconds=0.01)
    started = time.monotonic()
    with pytest.raises(LMUnavailable, match="HELPDESK_LM_URL") as raised:
        generator.generate(ask("Hello?"), max_new_tokens=5, temperature=0)
    assert "3 attempt" in str(raised.value) and time.monotonic() - started < 10


class _FlakyServer(BaseHTTPRequestHandler):
    """503 for the first request, then a two-piece streamed reply; records the bodies and headers it got."""

    requests: list[tuple[dict, str]] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((body, self.headers.get("Authorization", "")))
        if len(self.requests) == 1:
            self.send_response(503)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece, finish in ((" Returns are free.", None), (" Ask us", "length")):
            chunk = {"choices": [{"delta": {"content": piece}, "finish_reason": finish}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


def test_an_overloaded_server_is_asked_again_and_the_key_and_settings_are_sent():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        generator = OpenAIGenerator(f"http://127.0.0.1:{server.server_port}/v1", "served-name", api_key="k-123",
                                    backoff_seconds=0.01)
        run = generator.generate(ask("Is a return free?"), max_new_tokens=7, temperature=0.3)
    finally:
        server.shutdown()
    assert len(_FlakyServer.requests) == 2
    body, authorization = _FlakyServer.requests[1]
    assert authorization == "Bearer k-123"
    assert (body["model"], body["max_tokens"], body["temperature"], body["stream"]) == ("served-name", 7, 0.3, True)
    assert run.text == "Returns are free."  # cut at the token limit: the unfinished sentence is dropped


@pytest.fixture(params=BACKENDS)
def openai_app(request, tmp_path, models_dir, embedder):
    """The bot with HELPDESK_LM_BACKEND=openai; the test points HELPDESK_LM_URL where it wants."""
    def make(url: str):
        if request.param == "sqlite":
            database, drop = f"sqlite:///{tmp_path / 'helpdesk.db'}", None
        else:
            database, drop = _fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
        settings = make_settings(tmp_path / "data", database, models_dir, lm_backend="openai", lm_url=url,
                                 lm_retries=1, max_new_tokens=40)
        services = build_services(settings, embedder=embedder)
        services.start()
        services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
        made.append((services, drop))
        return TestClient(create_app(settings, services)), services

    made = []
    yield make
    for services, drop in made:
        services.engine.dispose()
        if drop:
            drop()


def _turns(services, conversation_id: int) -> list[TurnRecord]:
    with services.sessions() as session:
        return list(session.scalars(select(TurnRecord).where(TurnRecord.conversation_id == conversation_id)
                                    .order_by(TurnRecord.id)))


def test_the_bot_answers_through_the_server(openai_app, lm_server, sender):
    client, services = openai_app(lm_server)
    with client:
        reply = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": GENERATED_QUESTION}).json()[0]
    assert services.generator.calls == 1
    user, bot = _turns(services, reply["custom"]["conversation_id"])
    assert user.text == GENERATED_QUESTION and bot.text == reply["text"] and bot.model_id == EMBEDDED_LM_ID


def test_with_the_server_down_the_customer_gets_the_fallback_and_nothing_is_lost(openai_app, sender):
    client, services = openai_app(f"http://127.0.0.1:{free_port()}/v1")
    with client:
        response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": GENERATED_QUESTION})
    assert response.status_code == 200
    reply = response.json()[0]
    assert reply["custom"]["kind"] == "fallback" and "connect you with a person" in reply["text"]
    user, bot = _turns(services, reply["custom"]["conversation_id"])
    assert user.text == GENERATED_QUESTION and bot.text == reply["text"]
