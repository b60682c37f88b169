"""Hit testing across languages: `POST /admin/search` shows what chat searches for a customer whose message is in
another language than the knowledge, the LM's translation (dialogue/crosslingual.py "translate"), on both databases.

The LM is the scripted OpenAI-compatible server of tests/integration/test_judgement.py; the knowledge base is the
English sample shop with MiniLM, which ranks a German question far below its thresholds.
"""

import pytest

from bot.services import build_services
from tests.conftest import chat, make_settings
from tests.integration.test_crosslingual_judgement import CAMERA_BACK, CATALOGUE, RETURNS, SEND_BACK, TRANSLATE
from tests.integration.test_judgement import client_of, judged_services, lm_server  # noqa: F401 (fixture)
from tests.integration.test_judgement_verify import sure
from tests.integration.test_questions_across_languages import INVOICE, INVOICE_ANSWER, PARCEL, BilingualSpace, four_faqs
from tests.support.lm_server import Rule

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def translating(database_url, tmp_path_factory, models_dir, embedder, lm_server):  # noqa: F811
    services = judged_services(tmp_path_factory.mktemp("search-across"), database_url, models_dir, embedder,
                               lm_server, "auto")
    yield services
    services.engine.dispose()


@pytest.fixture()
def client(translating):
    translating.manager.across.forget_translations()
    yield from client_of(translating)


def search(client, admin_headers, **body) -> dict:
    response = client.post("/admin/search", json=body, headers=admin_headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_german_query_is_searched_as_its_translation_as_chat_searches_it(client, lm_server, admin_headers):
    lm_server.script(Rule(TRANSLATE, SEND_BACK))
    found = search(client, admin_headers, query=CAMERA_BACK)
    assert found["translated"]["text"] == SEND_BACK and found["translated"]["language"] == "en"
    assert found["translated"]["query_language"] == "de" and "confirms" in found["translated"]["note"]
    assert found["hits"][0]["question"] == RETURNS and found["decision"] == "generate"
    [request] = lm_server.requests
    assert request[-1]["content"] == f"Customer's message: {CAMERA_BACK}\n\nEnglish translation:"


def test_as_written_the_german_query_finds_nothing_and_asks_the_lm_nothing(client, lm_server, admin_headers):
    lm_server.script(Rule(TRANSLATE, SEND_BACK))
    found = search(client, admin_headers, query=CAMERA_BACK, translate=False)
    assert found["translated"] is None and found["decision"] == "fallback"
    assert lm_server.requests == []


def test_an_english_query_or_a_failed_translation_is_searched_as_written(client, lm_server, admin_headers):
    lm_server.script(Rule(TRANSLATE, SEND_BACK))
    english = search(client, admin_headers, query="Can I send my camera back if I don't like it?")
    assert english["translated"] is None and english["hits"][0]["question"] == RETURNS
    assert lm_server.requests == []
    # Not translations: a copy of the message, the LM's instructions said back, its refusal.
    for output in (CAMERA_BACK, "Please keep all details, names, and numbers, and do not answer it.",
                   "I'm sorry, but I can't assist with that."):
        client.app.state.services.manager.across.forget_translations()
        lm_server.script(Rule(TRANSLATE, output))
        copied = search(client, admin_headers, query=CAMERA_BACK)
        assert copied["translated"] is None and copied["decision"] == "fallback", output


def test_the_customers_language_may_be_given(client, lm_server, admin_headers):
    # Read from the query, a short German one could pass for English; said, it is translated as chat would.
    lm_server.script(Rule(TRANSLATE, "Return?"))
    found = search(client, admin_headers, query="Rückgabe?", language="de")
    assert found["translated"]["text"] == "Return?" and found["translated"]["query_language"] == "de"
    bad = client.post("/admin/search", json={"query": "Rückgabe?", "language": "German"}, headers=admin_headers)
    assert bad.status_code == 422 and "language" in bad.text


@pytest.fixture()
def bilingual_client(migrated_database, tmp_path, models_dir, lm_server):  # noqa: F811
    """Four English FAQs in the small multilingual space of test_questions_across_languages.py, in a database of
    their own, and the scripted LM."""
    settings = make_settings(tmp_path, migrated_database[0], models_dir, lm_backend="openai", lm_url=lm_server.url,
                             lm_model=lm_server.model, lm_retries=0, judgement="auto", judgement_timeout_seconds=2.0,
                             embedding_multilingual=True)
    services = build_services(settings, embedder=BilingualSpace(lean=0.0))
    services.start()
    services.knowledge.upsert_many(four_faqs())
    yield from client_of(services)
    services.engine.dispose()


# Invoice and delivery: as written, as near to the one FAQ as to the other.
INVOICE_OF_DELIVERY = "Rechnung und Beleg zur Lieferung vom Paket?"
VAGUE = "Where can I find that?"  # a poor translation: it lost what the customer asks about


def test_with_a_multilingual_embedder_the_query_as_written_is_ranked_beside_its_translation(
        bilingual_client, lm_server, admin_headers):
    lm_server.script(Rule(TRANSLATE, VAGUE), sure(0.8))
    written = search(bilingual_client, admin_headers, query=INVOICE_OF_DELIVERY, language="de", translate=False)
    assert {hit["question"] for hit in written["hits"][:2]} == {INVOICE, PARCEL}
    assert written["hits"][0]["confidence"] == written["hits"][1]["confidence"]  # a tie: not quoted as found
    assert search(bilingual_client, admin_headers, query=VAGUE, translate=False)["decision"] == "fallback"

    # Ranked together, the invoice FAQ leads: first in one search, and joint first in the other.
    found = search(bilingual_client, admin_headers, query=INVOICE_OF_DELIVERY, language="de")
    assert found["translated"]["text"] == VAGUE
    assert [hit["question"] for hit in found["hits"][:2]] == [INVOICE, PARCEL] and found["decision"] == "generate"
    assert found["hits"][0]["confidence"] == written["hits"][0]["confidence"]  # each hit as the search it led
    reply = chat(bilingual_client, "invoice-of-delivery", INVOICE_OF_DELIVERY, metadata={"language": "de"})
    assert reply["custom"]["kind"] == "faq" and reply["text"] == (
        f"{CATALOGUE.phrases('de')('other_language_note')}\n\n{INVOICE_ANSWER}")
