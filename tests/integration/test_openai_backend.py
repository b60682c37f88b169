"""HELPDESK_LM_BACKEND=openai against a real OpenAI-compatible server (`python -m llama_cpp.server` on the
embedded GGUF), plus a server that fails on purpose, the bot's fallback when the LM server is down, and LoRA
adapters loaded into a server that answers like vLLM with runtime LoRA updating (tests/support/vllm_server.py)."""

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
from core.errors import LMUnavailable, ModelUnavailable
from dialogue.verdicts import ANSWER_SCHEMA
from dialogue.lm.lora_server import AdapterPaths, LoraApiMissing
from dialogue.lm.llamacpp_generator import LlamaCppGenerator
from dialogue.lm.openai_generator import OpenAIGenerator
from dialogue.lm.sources import EMBEDDED_LM_ID, embedded_gguf_path
from dialogue.records import TurnRecord
from retrieval.faq_files import read_faq_file
from tests.conftest import BACKENDS, make_settings
from tests.integration.test_llamacpp_backend import ask
from tests.integration.test_streaming import GENERATED_QUESTION
from tests.support.live_server import free_port
from tests.support.vllm_server import VllmServer, VllmState
from training.registry import ModelCard, Registry
from tests.support.postgres import fresh_postgres_database

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


def test_yes_no_probabilities_come_from_the_servers_logprobs(lm_server, models_dir):
    # The judge's "verify" step over HTTP: the first token's `top_logprobs`, read by word, agree with the same
    # model's logits read in-process by llama.cpp.
    from tests.integration.test_llamacpp_backend import YES_NO

    generator = OpenAIGenerator(lm_server, EMBEDDED_LM_ID)
    local = LlamaCppGenerator("default", models_dir, slots=1, slot_tokens=1024, threads=1)
    try:
        for messages in YES_NO:
            served = generator.choice_probabilities(messages, ("yes", "no"))
            assert served["yes"] + served["no"] == pytest.approx(1.0)
            assert served["yes"] == pytest.approx(local.choice_probabilities(messages, ("yes", "no"))["yes"],
                                                  abs=0.05)
    finally:
        local.close()


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


def test_a_json_schema_reaches_the_server_as_response_format(lm_server):
    # llama.cpp's server holds the reply to the schema, as vLLM's and OpenAI's do.
    generator = OpenAIGenerator(lm_server, EMBEDDED_LM_ID)
    messages = [{"role": "system", "content": 'Answer the customer from the snippet. Reply with JSON only: '
                                              '{"answer": "<short answer>", "sources": [<snippet numbers>]}'},
                ask("Is a return free?")[1]]
    run = generator.generate(messages, max_new_tokens=120, temperature=0, json_schema=ANSWER_SCHEMA)
    assert set(json.loads(run.text)) == {"answer", "sources"}
    assert generator.response_formats == ["json_object"]  # its own form: it answers `json_schema` with a 500


class _NoSchemaServer(BaseHTTPRequestHandler):
    """400 for a request with `response_format` (as a server without JSON-schema support says), else a reply."""

    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        if "response_format" in body:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"error": "response_format is not supported"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"delta": {"content": '{"answer": null, "sources": []}'}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args):
        pass


def test_a_server_that_refuses_response_format_is_asked_without_it_from_then_on():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoSchemaServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        generator = OpenAIGenerator(f"http://127.0.0.1:{server.server_port}/v1", "served-name")
        first, second = (generator.generate(ask("Is a return free?"), max_new_tokens=40, temperature=0,
                                            json_schema=ANSWER_SCHEMA) for _ in range(2))
    finally:
        server.shutdown()
    assert first.text == second.text == '{"answer": null, "sources": []}'
    assert [body.get("response_format", {}).get("type") for body in _NoSchemaServer.bodies] == [
        "json_schema", "json_object", None, None]
    assert generator.response_formats == []


@pytest.fixture(params=BACKENDS)
def openai_app(request, tmp_path, models_dir, embedder):
    """The bot with HELPDESK_LM_BACKEND=openai; the test points HELPDESK_LM_URL where it wants."""
    def make(url: str):
        if request.param == "sqlite":
            database, drop = f"sqlite:///{tmp_path / 'helpdesk.db'}", None
        else:
            database, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
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


# -- LoRA adapters on a vLLM server (its runtime LoRA API; tests/support/vllm_server.py) ------------------------

def _adapter(root, entry_id: str):
    """A registry entry's adapter folder as the bot writes it (the server only checks that it is one)."""
    folder = root / "lm" / entry_id
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    return folder


@pytest.fixture()
def vllm(tmp_path):
    state = VllmState(base_model=EMBEDDED_LM_ID, mounts={"/srv/helpdesk-registry": tmp_path / "registry"})
    server = VllmServer(state)
    yield server
    server.close()


def test_a_promoted_adapter_is_loaded_into_the_server_and_replies_name_it(vllm, tmp_path):
    registry = tmp_path / "registry"
    first, second = _adapter(registry, "lm-20261204-aaaaaa"), _adapter(registry, "lm-20261204-bbbbbb")
    generator = OpenAIGenerator(vllm.url, EMBEDDED_LM_ID,
                                adapter_paths=AdapterPaths(registry, "/srv/helpdesk-registry"))
    assert generator.use_adapter(first) == f"{EMBEDDED_LM_ID}+lm-20261204-aaaaaa"
    assert vllm.state.loaded == {"lm-20261204-aaaaaa": "/srv/helpdesk-registry/lm/lm-20261204-aaaaaa"}
    run = generator.generate(ask("Is a return free?"), max_new_tokens=20, temperature=0)
    assert vllm.state.calls[-1][1]["model"] == "lm-20261204-aaaaaa"
    assert run.model_id == f"{EMBEDDED_LM_ID}+lm-20261204-aaaaaa" and "written by lm-20261204-aaaaaa" in run.text

    generator.use_adapter(second)  # a newer promotion: the first is unloaded, nothing used it any more
    assert set(vllm.state.loaded) == {"lm-20261204-bbbbbb"}
    generator.use_adapter(None)  # rollback
    assert vllm.state.loaded == {}
    run = generator.generate(ask("Is a return free?"), max_new_tokens=20, temperature=0)
    assert vllm.state.calls[-1][1]["model"] == EMBEDDED_LM_ID and run.model_id == EMBEDDED_LM_ID


def test_a_rollback_unloads_the_adapter_only_after_the_replies_it_is_writing(vllm, tmp_path):
    adapter = _adapter(tmp_path / "registry", "lm-20261204-cccccc")
    generator = OpenAIGenerator(vllm.url, EMBEDDED_LM_ID, adapter_paths=AdapterPaths(tmp_path / "registry",
                                                                                     "/srv/helpdesk-registry"))
    generator.use_adapter(adapter)
    vllm.state.piece_seconds = 0.3
    first_piece, result = threading.Event(), {}
    writing = threading.Thread(target=lambda: result.update(run=generator.generate(
        ask("Is a return free?"), max_new_tokens=20, temperature=0, on_text=lambda piece: first_piece.set())))
    writing.start()
    assert first_piece.wait(timeout=10)
    started = time.monotonic()
    generator.use_adapter(None)
    assert time.monotonic() - started < 0.3  # the rollback did not wait for the reply
    assert "lm-20261204-cccccc" in vllm.state.loaded  # still writing with it
    writing.join(timeout=10)
    assert "written by lm-20261204-cccccc" in result["run"].text
    assert result["run"].model_id == f"{EMBEDDED_LM_ID}+lm-20261204-cccccc"
    assert vllm.state.loaded == {} and vllm.state.calls[-1][0] == "/v1/unload_lora_adapter"


def test_a_server_restarted_without_the_adapter_gets_it_loaded_again(vllm, tmp_path):
    adapter = _adapter(tmp_path / "registry", "lm-20261204-dddddd")
    generator = OpenAIGenerator(vllm.url, EMBEDDED_LM_ID, adapter_paths=AdapterPaths(tmp_path / "registry",
                                                                                     "/srv/helpdesk-registry"))
    generator.use_adapter(adapter)
    vllm.state.loaded.clear()  # what a restarted vLLM knows
    run = generator.generate(ask("Is a return free?"), max_new_tokens=20, temperature=0)
    assert "written by lm-20261204-dddddd" in run.text and "lm-20261204-dddddd" in vllm.state.loaded


@pytest.mark.parametrize(("runtime_lora", "enable_lora", "named"), [
    (False, True, "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"), (True, False, "--enable-lora")])
def test_a_server_without_the_lora_api_is_a_clear_error_naming_what_to_set(vllm, tmp_path, runtime_lora,
                                                                            enable_lora, named):
    vllm.state.runtime_lora, vllm.state.enable_lora = runtime_lora, enable_lora
    generator = OpenAIGenerator(vllm.url, EMBEDDED_LM_ID)
    with pytest.raises(LoraApiMissing, match=named) as raised:
        generator.use_adapter(_adapter(tmp_path / "registry", "lm-20261204-eeeeee"))
    assert "--enable-lora" in str(raised.value) and vllm.url in str(raised.value)
    assert generator.model_id == EMBEDDED_LM_ID  # still serving the base model


def test_an_adapter_the_server_cannot_read_names_the_path_setting(vllm, tmp_path):
    elsewhere = _adapter(tmp_path / "elsewhere", "lm-20261204-ffffff")
    generator = OpenAIGenerator(vllm.url, EMBEDDED_LM_ID)  # no shared path: the server gets the bot's own path
    vllm.state.mounts.clear()
    with pytest.raises(ModelUnavailable, match="HELPDESK_LM_SERVER_ADAPTERS_DIR"):
        generator.use_adapter(tmp_path / "registry" / "lm" / "missing")
    mapped = OpenAIGenerator(vllm.url, EMBEDDED_LM_ID, adapter_paths=AdapterPaths(tmp_path / "registry", "/srv/x"))
    with pytest.raises(ModelUnavailable, match="not in the registry folder"):
        mapped.use_adapter(elsewhere)


@pytest.fixture()
def vllm_app(tmp_path, models_dir, embedder, vllm):
    """The bot on SQLite with HELPDESK_LM_BACKEND=openai against the vLLM-like server, the registry shared
    with it at /srv/helpdesk-registry."""
    def make(**overrides):
        settings = make_settings(tmp_path / "data", f"sqlite:///{tmp_path / 'helpdesk.db'}", models_dir,
                                 lm_backend="openai", lm_url=vllm.url, registry_dir=tmp_path / "registry",
                                 lm_server_adapters_dir="/srv/helpdesk-registry", **overrides)
        services = build_services(settings, embedder=embedder)
        services.start()
        services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
        made.append(services)
        return TestClient(create_app(settings, services)), services

    made = []
    yield make
    for services in made:
        services.engine.dispose()


def _registered(tmp_path, entry_id: str) -> None:
    registry = Registry(tmp_path / "registry")
    with registry.staging() as staged:
        (staged / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
        registry.commit(staged, ModelCard(id=entry_id, kind="lm", base_model=EMBEDDED_LM_ID,
                                          created_at="2026-12-04T12:00:00+00:00", arguments={}, data={}))


def test_the_admin_api_promotes_into_the_server_and_replies_record_the_adapter(vllm_app, vllm, tmp_path, sender,
                                                                               admin_headers):
    _registered(tmp_path, "lm-20261204-121212")
    client, services = vllm_app()
    with client:
        served = client.post("/admin/models/lm", json={"adapter": "lm-20261204-121212"}, headers=admin_headers)
        assert served.status_code == 200, served.text
        assert served.json() == {"serving_lm": f"{EMBEDDED_LM_ID}+lm-20261204-121212"}
        reply = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": GENERATED_QUESTION}).json()[0]
        health = client.get("/health").json()
        back = client.post("/admin/models/lm", json={"adapter": None}, headers=admin_headers)
    loaded = {"lora_name": "lm-20261204-121212", "lora_path": "/srv/helpdesk-registry/lm/lm-20261204-121212"}
    assert vllm.state.calls[0] == ("/v1/load_lora_adapter", loaded)
    chats = [body for path, body in vllm.state.calls if path == "/v1/chat/completions"]
    assert chats and chats[-1]["model"] == "lm-20261204-121212"
    _, bot = _turns(services, reply["custom"]["conversation_id"])
    assert bot.model_id == f"{EMBEDDED_LM_ID}+lm-20261204-121212"
    assert (health["lm_backend"], health["lm_device"]) == ("openai", "server")
    assert back.json() == {"serving_lm": EMBEDDED_LM_ID} and vllm.state.loaded == {}


def test_the_admin_api_says_what_to_set_when_the_server_has_no_lora_api(vllm_app, vllm, tmp_path, admin_headers):
    _registered(tmp_path, "lm-20261204-131313")
    vllm.state.runtime_lora = False
    client, services = vllm_app()
    with client:
        refused = client.post("/admin/models/lm", json={"adapter": "lm-20261204-131313"}, headers=admin_headers)
    assert refused.status_code == 409
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in refused.json()["detail"]
    assert services.generator.model_id == EMBEDDED_LM_ID


def test_the_promoted_adapter_is_loaded_into_the_server_at_start(vllm_app, vllm, tmp_path):
    _registered(tmp_path, "lm-20261204-141414")
    Registry(tmp_path / "registry").promote("lm-20261204-141414", force=True)
    _, services = vllm_app()
    assert services.generator.model_id == f"{EMBEDDED_LM_ID}+lm-20261204-141414"
    assert vllm.state.loaded == {"lm-20261204-141414": "/srv/helpdesk-registry/lm/lm-20261204-141414"}
