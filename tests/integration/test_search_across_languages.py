"""Hit testing across languages: `POST /admin/search` shows what chat searches for a customer whose message is in
another language than the knowledge, the LM's translation (dialogue/crosslingual.py "translate"), on both databases.

The LM is the scripted OpenAI-compatible server of tests/integration/test_judgement.py; the knowledge base is the
English sample shop with MiniLM, which ranks a German question far below its thresholds.
"""

import pytest

from tests.integration.test_crosslingual_judgement import CAMERA_BACK, RETURNS, SEND_BACK, TRANSLATE
from tests.integration.test_judgement import client_of, judged_services, lm_server  # noqa: F401 (fixture)
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
    lm_server.script(Rule(TRANSLATE, CAMERA_BACK))  # a copy of the message: not a translation
    copied = search(client, admin_headers, query=CAMERA_BACK)
    assert copied["translated"] is None and copied["decision"] == "fallback"


def test_the_customers_language_may_be_given(client, lm_server, admin_headers):
    # Read from the query, a short German one could pass for English; said, it is translated as chat would.
    lm_server.script(Rule(TRANSLATE, "Return?"))
    found = search(client, admin_headers, query="Rückgabe?", language="de")
    assert found["translated"]["text"] == "Return?" and found["translated"]["query_language"] == "de"
    bad = client.post("/admin/search", json={"query": "Rückgabe?", "language": "German"}, headers=admin_headers)
    assert bad.status_code == 422 and "language" in bad.text
