"""Enrichment: the LM's paraphrases of FAQs with few alternatives, stored apart from the admin's, searched,
listed and removable through the admin API, kept across an admin's edit; one FAQ the LM fails on leaves the
others enriched (training/enrichment.py, retrieval/generated_questions.py, bot/api/faqs.py, `helpdesk faq enrich`)."""

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.services import build_services
from dialogue.lm.openai_generator import OpenAIGenerator
from retrieval.faqs import make_draft
from training.enrichment import EnrichmentConfig, enrich

pytestmark = pytest.mark.integration

PLAIN = [("How do I cancel my contract?", "A 30-day plan can be cancelled at any time in the app (Account > Plan)."),
         ("Is there a student discount?", "Students get 15% off the Plus and Unlimited plans."),
         ("What should I do if my phone is lost or stolen?", "Call 0800 555 0199 straight away and we bar your SIM.")]
PARAPHRASES = {"cancel": "1. I want to end my plan\n2. Is there a fee to leave early?\n3. stop my contract please",
               "student": "- do students pay less?\n- Any deals for uni students?"}


class _ParaphraseServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that writes canned paraphrases, and fails (500) on the stolen-phone FAQ."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][-1]["content"]
        reply = next((text for key, text in PARAPHRASES.items() if key in prompt.lower().split("answer:")[0]), None)
        if reply is None:
            self.send_response(500)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"delta": {"content": reply}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def lm_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ParaphraseServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield OpenAIGenerator(f"http://127.0.0.1:{server.server_port}/v1", "paraphraser", retries=0, backoff_seconds=0.01)
    server.shutdown()


@pytest.fixture()
def scratch(tmp_path, services):
    settings = services.settings.model_copy(update={"data_dir": tmp_path, "database_url": ""})
    fresh = build_services(settings, embedder=services.embedder, generator=services.generator)
    fresh.start(with_lm=False)
    fresh.ready = True
    yield fresh
    fresh.knowledge.close()
    fresh.engine.dispose()


def test_one_faq_the_lm_fails_on_is_named_and_the_others_are_enriched_searched_and_kept(scratch, lm_server):
    knowledge = scratch.knowledge
    faqs = knowledge.create_many([make_draft(q, a, ["Can I quit?"] if "cancel" in q else []) for q, a in PLAIN])
    report = enrich(knowledge, lm_server, faqs, EnrichmentConfig(min_alternatives=3), "Brightwave")

    cancel, student, stolen = faqs
    assert set(report.enriched) == {cancel.id, student.id} and list(report.failed) == [stolen.id]
    assert "500" in report.failed[stolen.id] or "server" in report.failed[stolen.id].lower()
    stored = knowledge.get(cancel.id)
    assert stored.alt_questions == ["Can I quit?"]  # the admin's, untouched
    assert stored.generated_questions == ["I want to end my plan", "Is there a fee to leave early?",
                                          "stop my contract please"]
    assert knowledge.get(stolen.id).generated_questions == []
    hit = knowledge.search("Any deals for uni students?", top_k=1)[0]
    assert hit.faq.id == student.id and hit.score == pytest.approx(1.0, abs=1e-4)  # indexed like an alternative

    # An admin's edit keeps them; one that makes a generated question the admin's own takes it over.
    knowledge.update(cancel.id, make_draft(cancel.question, cancel.answer, ["Can I quit?", "stop my contract please"]))
    assert knowledge.get(cancel.id).generated_questions == ["I want to end my plan", "Is there a fee to leave early?"]
    # Enough alternatives now: a second run leaves it alone.
    again = enrich(knowledge, lm_server, [knowledge.get(cancel.id)], EnrichmentConfig(min_alternatives=3), "x")
    assert again.skipped == 1 and not again.enriched


def test_the_admin_api_lists_generated_questions_apart_and_removes_them_one_by_one(scratch, lm_server):
    scratch.generator = lm_server
    with TestClient(create_app(scratch.settings, scratch)) as client:
        headers = {"Authorization": "Bearer test-admin-token"}
        created = client.post("/admin/faqs", json={"question": PLAIN[0][0], "answer": PLAIN[0][1]}, headers=headers)
        faq_id = created.json()["id"]
        assert created.json()["generated_questions"] == []
        enriched = client.post(f"/admin/faqs/{faq_id}/enrich", headers=headers)
        assert enriched.status_code == 200, enriched.text
        assert enriched.json()["generated_questions"] == ["I want to end my plan", "Is there a fee to leave early?",
                                                          "stop my contract please"]
        assert enriched.json()["alt_questions"] == []
        removed = client.delete(f"/admin/faqs/{faq_id}/generated-questions",
                                params={"question": "Is there a fee to leave early?"}, headers=headers)
        assert removed.status_code == 200
        assert removed.json()["generated_questions"] == ["I want to end my plan", "stop my contract please"]
        missing = client.delete(f"/admin/faqs/{faq_id}/generated-questions", params={"question": "no such"},
                                headers=headers)
        assert missing.status_code == 404 and "no generated question 'no such'" in missing.json()["detail"]
        stolen = client.post("/admin/faqs", json={"question": PLAIN[2][0], "answer": PLAIN[2][1]}, headers=headers)
        failed = client.post(f"/admin/faqs/{stolen.json()['id']}/enrich", headers=headers)
        assert failed.status_code == 503 and failed.json()["detail"]
        audit = client.get("/admin/audit", params={"action": "faq.generated"}, headers=headers).json()["data"]
        assert sorted(row["action"] for row in audit) == ["faq.generated", "faq.generated.remove"]


def test_helpdesk_faq_enrich_shows_progress_and_exits_1_naming_the_faq_that_failed(tmp_path, models_dir, lm_server):
    """Run as customers run it: `helpdesk faq import`, then `helpdesk faq enrich` on an OpenAI-compatible server."""
    from tests.integration.test_cli import run

    env = {"HELPDESK_DATA_DIR": str(tmp_path / "data"), "HELPDESK_MODELS_DIR": str(models_dir),
           "HELPDESK_LM_BACKEND": "openai", "HELPDESK_LM_URL": lm_server.url, "HELPDESK_LM_MODEL": "paraphraser"}
    source = tmp_path / "faqs.yaml"
    source.write_text(yaml.safe_dump([{"question": q, "answer": a} for q, a in PLAIN]))
    assert run(["faq", "import", str(source)], env).returncode == 0
    result = run(["faq", "enrich"], env)
    assert result.returncode == 1, result.stderr
    assert "2 FAQs enriched (5 generated questions in all), 0 had 3 or more alternatives, 1 failed." in result.stdout
    assert "FAQ 3 failed:" in result.stderr
    assert "Enriching with paraphraser" in result.stderr  # tqdm's bar
    exported = tmp_path / "out.yaml"
    assert run(["faq", "export", str(exported)], env).returncode == 0
    assert [faq.get("alt_questions", []) for faq in yaml.safe_load(exported.read_text())] == [[], [], []]


def test_with_enrich_faqs_on_an_admins_new_faq_is_enriched_in_the_background(tmp_path, services, lm_server):
    settings = services.settings.model_copy(update={"data_dir": tmp_path, "database_url": "", "enrich_faqs": True})
    served = build_services(settings, embedder=services.embedder, generator=lm_server)
    served.start(with_lm=True)
    try:
        faq = served.knowledge.create(make_draft(*PLAIN[1]))
        served.enricher.wait()
        assert served.knowledge.get(faq.id).generated_questions == ["do students pay less?",
                                                                    "Any deals for uni students?"]
        assert served.knowledge.search("Any deals for uni students?", top_k=1)[0].faq.id == faq.id
    finally:
        served.enricher.close()
        served.knowledge.close()
        served.engine.dispose()


def test_generated_questions_are_searched_after_a_restart_that_rebuilds_the_index(tmp_path, services, lm_server):
    """The index rebuilt from the database (no snapshot; or another process reading the change log) lost them, and
    an enriched FAQ's answer vector was taken from its first generated question's row."""
    settings = services.settings.model_copy(update={"data_dir": tmp_path, "database_url": ""})
    first = build_services(settings, embedder=services.embedder, generator=services.generator)
    first.start(with_lm=False)
    faqs = first.knowledge.create_many([make_draft(q, a) for q, a in PLAIN])
    enrich(first.knowledge, lm_server, faqs, EnrichmentConfig(min_alternatives=3), "Brightwave")
    before = first.knowledge.search("Any deals for uni students?", top_k=1)[0]
    answer_before = first.knowledge.index.answers.vectors_of([before.scores.entry])[0]
    first.knowledge.close()
    first.engine.dispose()
    shutil.rmtree(settings.index_dir)

    second = build_services(settings, embedder=services.embedder, generator=services.generator)
    second.start(with_lm=False)
    try:
        after = second.knowledge.search("Any deals for uni students?", top_k=1)[0]
        assert after.faq.id == before.faq.id == faqs[1].id
        assert after.score == pytest.approx(before.score, abs=1e-4) == pytest.approx(1.0, abs=1e-4)
        answer_after = second.knowledge.index.answers.vectors_of([after.scores.entry])[0]
        assert answer_after == pytest.approx(answer_before, abs=1e-4)
    finally:
        second.knowledge.close()
        second.engine.dispose()
