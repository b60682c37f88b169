"""Admin API: auth, FAQ CRUD seen by the very next chat message, hit testing."""

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from tests.conftest import chat

pytestmark = pytest.mark.integration

NEW_FAQ = {
    "question": "Do you offer gift wrapping?",
    "answer": "Yes: tick 'gift wrap' at checkout; it costs £3 and hides the price.",
    "alt_questions": ["Can you wrap my order as a present?", "gift wrap"],
    "tags": ["Orders", "gifts"],
}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_admin_routes_require_the_token(client, headers):
    response = client.get("/admin/faqs", headers=headers)
    assert response.status_code == 401
    assert "token" in response.json()["detail"].lower()
    assert response.headers["www-authenticate"] == "Bearer"


def test_admin_api_is_off_without_a_configured_token(services):
    settings = services.settings.model_copy(update={"admin_token": None})
    with TestClient(create_app(settings, services)) as client:
        response = client.get("/admin/faqs", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 503
    assert "HELPDESK_ADMIN_TOKEN" in response.json()["detail"]


def test_faq_lifecycle_is_visible_on_the_next_message(client, admin_headers, sender):
    created = client.post("/admin/faqs", json=NEW_FAQ, headers=admin_headers)
    assert created.status_code == 201
    faq = created.json()
    assert faq["tags"] == ["orders", "gifts"] and faq["version"] == 1
    try:
        reply = chat(client, sender, "Can you wrap my order as a present?")
        assert (reply["custom"]["kind"], reply["text"]) == ("faq", NEW_FAQ["answer"])

        new_answer = "Yes, gift wrapping is free this month: tick 'gift wrap' at checkout."
        updated = client.put(f"/admin/faqs/{faq['id']}", json={**NEW_FAQ, "answer": new_answer},
                             headers=admin_headers)
        assert updated.status_code == 200 and updated.json()["version"] == 2
        assert chat(client, sender, "Can you wrap my order as a present?")["text"] == new_answer

        # Changing the questions moves the FAQ in the index, with no restart.
        moved = {**NEW_FAQ, "answer": new_answer, "alt_questions": ["Do you do engraving on devices?"]}
        client.put(f"/admin/faqs/{faq['id']}", json=moved, headers=admin_headers)
        assert chat(client, sender, "Do you do engraving on devices?")["text"] == new_answer
    finally:
        assert client.delete(f"/admin/faqs/{faq['id']}", headers=admin_headers).status_code == 204
    after = chat(client, sender, "Can you wrap my order as a present?")
    assert faq["id"] not in [s["id"] for s in after["custom"]["sources"]]
    # A new conversation has no history the LM could echo the old answer from.
    fresh = chat(client, sender + "-new", "Can you wrap my order as a present?")
    assert new_answer not in fresh["text"] and fresh["custom"]["kind"] != "faq", fresh
    assert client.get(f"/admin/faqs/{faq['id']}", headers=admin_headers).status_code == 404


def test_list_and_get_faqs(client, admin_headers):
    page = client.get("/admin/faqs", params={"limit": 5}, headers=admin_headers).json()
    assert page["count"] >= 40 and len(page["data"]) == 5
    first = page["data"][0]
    assert client.get(f"/admin/faqs/{first['id']}", headers=admin_headers).json() == first
    assert set(first) == {"id", "question", "answer", "alt_questions", "generated_questions", "tags", "version",
                          "updated_at"}


def test_hit_testing_uses_the_chat_thresholds(client, admin_headers):
    def search(query):
        response = client.post("/admin/search", json={"query": query, "top_k": 3}, headers=admin_headers)
        assert response.status_code == 200
        return response.json()

    strong = search("What is the return policy for devices?")
    assert strong["decision"] == "faq"
    assert strong["hits"][0]["question"] == "How do I return a device?"
    assert strong["hits"][0]["confidence"] >= strong["thresholds"]["faq"]
    assert len(strong["hits"]) == 3
    assert search("Give me a recipe for vegetarian lasagne")["decision"] == "fallback"
    partial = search("Does Nimbus Plus extend the warranty on a thermostat I bought last year?")
    assert partial["decision"] == "generate"


def test_a_crash_on_an_admin_route_hides_the_trace_and_claims_nothing_was_recorded(services, admin_headers):
    from bot.deps import get_knowledge

    class CrashingKnowledge:
        def page(self, offset, limit):
            raise RuntimeError("disk full (simulated)")

    app = create_app(services.settings, services)
    app.dependency_overrides[get_knowledge] = CrashingKnowledge
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/admin/faqs", headers=admin_headers)
    assert response.status_code == 500
    assert "disk full" not in response.text and "server log" in response.json()["detail"]
    assert "recorded" not in response.json()["detail"]  # only chat routes store what was sent first
