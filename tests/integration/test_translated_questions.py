"""An FAQ's questions translated by the LM into customers' languages (training/translations.py): stored as generated
questions, found by a question in that language, translated again only when an admin added texts; one FAQ the LM
fails on is named; through `helpdesk faq enrich --language`, the admin API and HELPDESK_ENRICH_LANGUAGES. The LM is
a local OpenAI-compatible server that translates from a table."""

import json
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

FAQS = [("How do I cancel my contract?", "A 30-day plan can be cancelled at any time in the app (Account > Plan).",
         ["Can I quit whenever I want?"]),
        ("Is there a student discount?", "Students get 15% off the Plus and Unlimited plans.", []),
        ("How do I turn down the volume?", "Press the lower volume key on the side of the phone.", [])]
GERMAN = {"How do I cancel my contract?": "Wie kündige ich meinen Vertrag?",
          "Can I quit whenever I want?": "Kann ich jederzeit aufhören?",
          "Is there a student discount?": "Gibt es einen Rabatt für Studenten?",
          "Do students pay less?": "Bezahlen Studenten weniger?",
          "Any deals for uni students?": "Gibt es Angebote für Studierende?",
          # the LM copies the English (Qwen2.5-Coder-1.5B did for HWU64's volume questions)
          "How do I turn down the volume?": "How do I turn down the volume?"}


class _TranslatingServer(BaseHTTPRequestHandler):
    """Translates the numbered texts of a translation prompt by GERMAN; 500 for anything else."""

    calls: list[list[str]] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][-1]["content"]
        texts = [line.split(". ", 1)[1] for line in prompt.split("\n\n", 1)[-1].splitlines() if ". " in line]
        if "into German" not in prompt or not all(text in GERMAN for text in texts):
            self.send_response(500)
            self.end_headers()
            return
        type(self).calls.append(texts)
        reply = json.dumps({"translations": [GERMAN[text] for text in texts]}, ensure_ascii=False)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"delta": {"content": reply}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def lm_server():
    _TranslatingServer.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TranslatingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield OpenAIGenerator(f"http://127.0.0.1:{server.server_port}/v1", "translator", retries=0, backoff_seconds=0.01)
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


def test_questions_in_german_find_the_translated_faq_and_the_one_the_lm_copied_is_named(scratch, lm_server):
    knowledge = scratch.knowledge
    cancel, student, volume = knowledge.create_many([make_draft(q, a, alts) for q, a, alts in FAQS])
    config = EnrichmentConfig(paraphrases=0, languages=("de",))
    report = enrich(knowledge, lm_server, [cancel, student, volume], config, "Brightwave")

    assert report.translated == {"de": {cancel.id: ["Wie kündige ich meinen Vertrag?", "Kann ich jederzeit aufhören?"],
                                        student.id: ["Gibt es einen Rabatt für Studenten?"]}}
    assert list(report.translation_failed["de"]) == [volume.id]
    assert "no usable de text" in report.translation_failed["de"][volume.id]
    stored = knowledge.get(cancel.id)
    assert stored.alt_questions == ["Can I quit whenever I want?"]  # the admin's, untouched
    hit = knowledge.search("Kann ich jederzeit aufhören?", top_k=1)[0]
    assert hit.faq.id == cancel.id and hit.score == pytest.approx(1.0, abs=1e-4)

    # Done: a second run asks the LM nothing. Once an admin has added more texts than were translated (half of
    # them may be missing: lines the LM got wrong), the FAQ is translated again and the earlier ones replaced.
    calls = len(_TranslatingServer.calls)
    assert not enrich(knowledge, lm_server, [knowledge.get(student.id)], config, "x").translated
    assert len(_TranslatingServer.calls) == calls
    knowledge.update(student.id, make_draft(FAQS[1][0], FAQS[1][1], ["Do students pay less?"]))
    assert not enrich(knowledge, lm_server, [knowledge.get(student.id)], config, "x").translated
    knowledge.update(student.id, make_draft(FAQS[1][0], FAQS[1][1], ["Do students pay less?",
                                                                     "Any deals for uni students?"]))
    again = enrich(knowledge, lm_server, [knowledge.get(student.id)], config, "x")
    german = ["Gibt es einen Rabatt für Studenten?", "Bezahlen Studenten weniger?", "Gibt es Angebote für Studierende?"]
    assert again.translated["de"][student.id] == german
    assert knowledge.get(student.id).generated_questions == german


def test_the_admin_api_translates_one_faq_and_says_what_is_wrong(scratch, lm_server):
    embedded, scratch.generator = scratch.generator, lm_server
    with TestClient(create_app(scratch.settings, scratch)) as client:
        headers = {"Authorization": "Bearer test-admin-token"}
        created = client.post("/admin/faqs", json={"question": FAQS[0][0], "answer": FAQS[0][1],
                                                   "alt_questions": FAQS[0][2]}, headers=headers)
        faq_id = created.json()["id"]
        scratch.generator = embedded  # the 135M default writes no translation: refused before it is asked
        refused = client.post(f"/admin/faqs/{faq_id}/enrich", params={"language": "de"}, headers=headers)
        assert refused.status_code == 503 and "needs a capable LM" in refused.json()["detail"]
        scratch.generator = lm_server
        translated = client.post(f"/admin/faqs/{faq_id}/enrich", params={"language": "de"}, headers=headers)
        assert translated.status_code == 200, translated.text
        assert translated.json()["generated_questions"] == ["Wie kündige ich meinen Vertrag?",
                                                            "Kann ich jederzeit aufhören?"]
        assert translated.json()["alt_questions"] == ["Can I quit whenever I want?"]
        bad = client.post(f"/admin/faqs/{faq_id}/enrich", params={"language": "German"}, headers=headers)
        assert bad.status_code == 422 and "language" in json.dumps(bad.json()["detail"])
        same = client.post(f"/admin/faqs/{faq_id}/enrich", params={"language": "en"}, headers=headers)
        assert same.status_code == 422 and "already in en: nothing to translate" in json.dumps(same.json()["detail"])
        failed = client.post(f"/admin/faqs/{faq_id}/enrich", params={"language": "fr"}, headers=headers)
        assert failed.status_code == 503 and failed.json()["detail"]  # our LM server refuses French
        assert client.get(f"/admin/faqs/{faq_id}", headers=headers).json()["generated_questions"] == \
            translated.json()["generated_questions"]


def test_helpdesk_faq_enrich_language_translates_and_exits_1_naming_the_faq_it_could_not(tmp_path, models_dir,
                                                                                         lm_server):
    from tests.integration.test_cli import run

    env = {"HELPDESK_DATA_DIR": str(tmp_path / "data"), "HELPDESK_MODELS_DIR": str(models_dir),
           "HELPDESK_LM_BACKEND": "openai", "HELPDESK_LM_URL": lm_server.url, "HELPDESK_LM_MODEL": "translator"}
    source = tmp_path / "faqs.yaml"
    source.write_text(yaml.safe_dump([{"question": q, "answer": a, "alt_questions": alts} for q, a, alts in FAQS]))
    assert run(["faq", "import", str(source)], env).returncode == 0
    result = run(["faq", "enrich", "--paraphrases", "0", "--language", "DE"], env)
    assert result.returncode == 1, result.stderr
    assert "2 FAQs translated into de (3 questions), 0 were already, 1 failed." in result.stdout
    assert "FAQ 3 not translated into de: the LM wrote no usable de text" in result.stderr
    assert "FAQs enriched" not in result.stdout  # --paraphrases 0: none asked for
    assert "compares English only" in result.stderr  # the test models' MiniLM: what translations cost is said
    bad = run(["faq", "enrich", "--language", "German!"], env)
    assert bad.returncode == 2 and "'German!' is not a language code" in bad.stderr
    embedded = {key: value for key, value in env.items() if not key.startswith("HELPDESK_LM_")}
    refused = run(["faq", "enrich", "--language", "de"], embedded)
    assert refused.returncode == 1 and "translating needs a capable LM" in refused.stderr


def test_with_enrich_languages_an_admins_new_faq_is_translated_in_the_background(tmp_path, services, lm_server):
    settings = services.settings.model_copy(update={"data_dir": tmp_path, "database_url": "",
                                                    "enrich_languages": ["de"]})
    served = build_services(settings, embedder=services.embedder, generator=lm_server)
    served.start(with_lm=True)
    try:
        faq = served.knowledge.create(make_draft(FAQS[1][0], FAQS[1][1]))
        served.enricher.wait()
        assert served.knowledge.get(faq.id).generated_questions == ["Gibt es einen Rabatt für Studenten?"]
        assert served.knowledge.search("Gibt es einen Rabatt für Studenten?", top_k=1)[0].faq.id == faq.id
    finally:
        served.enricher.close()
        served.knowledge.close()
        served.engine.dispose()
