"""Bad input gets the right status and a `detail` that says what to fix, and leaves no record behind."""

import pytest
from sqlalchemy import func, select

from dialogue.records import TurnRecord
from retrieval.faqs import FaqRecord

pytestmark = pytest.mark.integration

WEBHOOK = "/webhooks/rest/webhook"


def count(services, model) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"sender": "s1", "message": ""}, 422, "empty"),
        ({"sender": "s1", "message": "   \n\t "}, 422, "empty"),
        ({"sender": "s1", "message": "x" * 4001}, 413, "4000"),
        ({"sender": "s1", "message": 123}, 422, "message"),
        ({"sender": "s1"}, 422, "message"),
        ({"message": "hello"}, 422, "sender"),
        ({"sender": "", "message": "hello"}, 422, "sender"),
        ({"sender": ["a"], "message": "hello"}, 422, "sender"),
        ({"sender": "s1", "message": "hi", "metadata": "not an object"}, 422, "metadata"),
        (["not", "an", "object"], 422, "body"),
    ],
)
def test_bad_chat_messages_are_rejected_clearly_and_not_stored(client, services, body, status, needle):
    before = count(services, TurnRecord)
    response = client.post(WEBHOOK, json=body)
    assert response.status_code == status
    assert needle in str(response.json()["detail"]).lower()
    assert count(services, TurnRecord) == before


def test_malformed_json_is_a_422(client, services):
    before = count(services, TurnRecord)
    response = client.post(WEBHOOK, content=b'{"sender": "s1", "message": ',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "json" in str(response.json()["detail"]).lower()
    assert count(services, TurnRecord) == before


def test_message_at_the_limit_is_accepted(client):
    response = client.post(WEBHOOK, json={"sender": "long-writer", "message": "a" * 4000})
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_unknown_faq_id_is_404(client, admin_headers, method):
    kwargs = {"json": {"question": "q?", "answer": "a."}} if method == "put" else {}
    response = getattr(client, method)("/admin/faqs/987654", headers=admin_headers, **kwargs)
    assert response.status_code == 404
    assert "987654" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"question": "   ", "answer": "An answer."}, "question"),
        ({"question": "A question?", "answer": " "}, "answer"),
        ({"question": "A question?"}, "answer"),
        ({"question": "A question?", "answer": "A.", "alt_questions": "not a list"}, "alt_questions"),
        ({"question": "A question?", "answer": "A.", "tags": [1, 2]}, "tags"),
        ({"question": "A question?", "answer": "A.", "colour": "red"}, "colour"),
    ],
)
def test_invalid_faqs_are_rejected_and_not_stored(client, services, admin_headers, body, needle):
    before = count(services, FaqRecord)
    response = client.post("/admin/faqs", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert needle in str(response.json()["detail"])
    assert count(services, FaqRecord) == before


def test_faq_id_must_be_a_number(client, admin_headers):
    response = client.get("/admin/faqs/abc", headers=admin_headers)
    assert response.status_code == 422
    assert "faq_id" in str(response.json()["detail"])


def test_search_validates_its_input(client, admin_headers):
    assert client.post("/admin/search", json={"query": ""}, headers=admin_headers).status_code == 422
    response = client.post("/admin/search", json={"query": "refund", "top_k": 0}, headers=admin_headers)
    assert response.status_code == 422 and "top_k" in str(response.json()["detail"])
