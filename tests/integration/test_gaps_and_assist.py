"""Knowledge gaps (GET /admin/gaps) and agent assist (GET /admin/conversations/{id}/suggestions), through the
real chat routes, embedder, index and LM."""

import uuid

import pytest

from dialogue.records import TurnRecord
from tests.conftest import chat

pytestmark = pytest.mark.integration

# Each scores under the generate threshold on the sample knowledge base (hit testing said 0.31-0.42).
STORE_QUESTIONS = ["Do you have a shop in Berlin where I can visit?", "Is there a physical store in Berlin?",
                   "Do you have a retail shop I can visit?"]
GENERATED_QUESTION = "If I return my Nimbus Cam, how long until the money is back on my card?"


def customer() -> str:
    return f"gap-{uuid.uuid4().hex[:12]}"


def gap_with(client, headers, question: str, status: str = "open") -> dict | None:
    page = client.get("/admin/gaps", params={"status": status}, headers=headers)
    assert page.status_code == 200, page.text
    return next((gap for gap in page.json()["data"] if question in gap["questions"]), None)


def test_unanswered_questions_group_by_meaning_and_close_when_an_faq_answers_them(client, admin_headers):
    for question in STORE_QUESTIONS:
        assert chat(client, customer(), question)["custom"]["kind"] == "fallback"
    # A fourth customer asks for a person with the question in the same message: the question counts, not
    # the request for a person.
    asker = customer()
    assert chat(client, asker,
                "Can I talk to a person? Is there a Nimbus store in Berlin?")["custom"]["kind"] == "handoff"
    # A thumbs-down on an answer is a gap too, about another need.
    unhappy = customer()
    reply = chat(client, unhappy, "Does the Nimbus Cam work underwater in my pool?")
    client.post("/feedback", json={"sender": unhappy, "turn_id": reply["custom"]["turn_id"], "rating": "down"})

    page = client.get("/admin/gaps", headers=admin_headers).json()
    counts = [gap["count"] for gap in page["data"]]
    assert counts == sorted(counts, reverse=True)  # biggest first
    store = gap_with(client, admin_headers, STORE_QUESTIONS[0])
    assert store is not None and store["status"] == "open"
    assert set(STORE_QUESTIONS) | {"Is there a Nimbus store in Berlin?"} <= set(store["questions"])
    assert store["count"] >= 4 and store["reasons"]["fallback"] >= 3 and store["reasons"]["handoff"] >= 1
    assert not any("talk to a person" in question for question in store["questions"])
    underwater = gap_with(client, admin_headers, "Does the Nimbus Cam work underwater in my pool?")
    assert underwater is not None and underwater["id"] != store["id"] and underwater["reasons"]["thumbs_down"] == 1

    created = client.post("/admin/faqs", headers=admin_headers, json={
        "question": "Do you have a shop in Berlin?", "alt_questions": STORE_QUESTIONS,
        "answer": "We sell online only; there is no Nimbus shop in Berlin or anywhere else."})
    assert created.status_code == 201
    try:
        assert gap_with(client, admin_headers, STORE_QUESTIONS[0]) is None  # no longer open
        closed = gap_with(client, admin_headers, STORE_QUESTIONS[0], status="closed")
        assert closed["id"] == store["id"] and closed["answered_by"] == [created.json()["id"]]
        assert chat(client, customer(), STORE_QUESTIONS[1])["custom"]["kind"] == "faq"
    finally:
        client.delete(f"/admin/faqs/{created.json()['id']}", headers=admin_headers)


def test_gaps_need_a_key_and_explain_bad_filters(client, make_key, admin_headers):
    # The gaps quote what customers wrote, so they need the role the inbox needs.
    for role in ("viewer", "editor"):
        refused = client.get("/admin/gaps", headers=make_key(role))
        assert refused.status_code == 403 and "admin role" in refused.json()["detail"]
    assert client.get("/admin/gaps", headers=make_key("admin")).status_code == 200
    assert client.get("/admin/gaps").status_code == 401
    assert client.get("/admin/gaps", params={"status": "solved"}, headers=admin_headers).status_code == 422
    old = client.get("/admin/gaps", params={"from": "2019-01-01", "to": "2019-01-31"}, headers=admin_headers)
    assert old.json() == {"data": [], "count": 0, "open": 0, "closed": 0}


def turn_count(services, conversation_id: int) -> int:
    with services.sessions() as session:
        return session.query(TurnRecord).filter_by(conversation_id=conversation_id).count()


def test_suggestions_quote_the_curated_answer_for_the_question_before_the_handoff(client, services, admin_headers):
    sender = customer()
    chat(client, sender, "What is the return policy for devices?")
    conversation_id = chat(client, sender, "I want to talk to a human")["custom"]["conversation_id"]
    before = turn_count(services, conversation_id)
    response = client.get(f"/admin/conversations/{conversation_id}/suggestions", headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    faq = next(f for f in services.knowledge.page(0, 100)[0] if f.question == "How do I return a device?")
    assert body["question"] == "What is the return policy for devices?" and body["decision"] == "faq"
    assert body["draft"]["kind"] == "faq" and body["draft"]["text"] == faq.answer
    assert body["draft"]["sources"][0]["id"] == faq.id == body["snippets"][0]["id"]
    assert body["snippets"][0]["score"] >= services.manager.thresholds().faq
    assert turn_count(services, conversation_id) == before  # nothing was sent or stored


def test_suggestions_draft_an_answer_with_the_lm_from_the_top_snippets(client, services, admin_headers):
    sender = customer()
    conversation_id = chat(client, sender, f"Can I speak to someone? {GENERATED_QUESTION}")["custom"]["conversation_id"]
    url = f"/admin/conversations/{conversation_id}/suggestions"
    calls = services.generator.calls
    quick = client.get(url, params={"draft": "false"}, headers=admin_headers).json()
    assert quick["question"] == GENERATED_QUESTION and quick["decision"] == "generate"
    assert quick["draft"] is None and "draft=false" in quick["note"] and services.generator.calls == calls
    assert "When will I receive my refund?" in [snippet["title"] for snippet in quick["snippets"]]
    drafted = client.get(url, headers=admin_headers).json()
    assert services.generator.calls == calls + 1
    draft = drafted["draft"]
    assert draft["kind"] == "generated" and draft["text"].strip() and draft["model_id"] == services.generator.model_id
    snippet_ids = {(s["kind"], s["id"]) for s in drafted["snippets"]}
    assert draft["sources"] and {(s["kind"], s["id"]) for s in draft["sources"]} <= snippet_ids
    assert all(s["score"] >= services.manager.thresholds().generate for s in draft["sources"])


def test_suggestions_errors_and_roles(client, make_key, admin_headers):
    assert client.get("/admin/conversations/999999/suggestions", headers=admin_headers).status_code == 404
    sender = customer()
    conversation_id = chat(client, sender, "I want to talk to a human")["custom"]["conversation_id"]
    empty = client.get(f"/admin/conversations/{conversation_id}/suggestions", headers=admin_headers).json()
    assert empty["question"] is None and empty["snippets"] == [] and "not asked" in empty["note"]
    chat(client, sender, "Give me a recipe for lasagne")
    nothing = client.get(f"/admin/conversations/{conversation_id}/suggestions", headers=admin_headers).json()
    assert nothing["decision"] == "fallback" and nothing["draft"] is None and "adding an FAQ" in nothing["note"]
    forbidden = client.get(f"/admin/conversations/{conversation_id}/suggestions", headers=make_key("editor"))
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]


def test_a_gap_says_which_faq_customers_chose_from_the_suggestions(client, services, admin_headers):
    """The learning loop's cheapest signal: the customer's own question, and the FAQ they said it meant."""
    unsure = "My thermostat won't turn on any more after a year, how do I get it fixed?"
    sender = customer()
    reply = chat(client, sender, unsure)
    warranty = next(button for button in reply["buttons"] if button["title"] == "How do I make a warranty claim?")
    assert chat(client, sender, warranty["payload"])["custom"]["kind"] == "faq"
    other = customer()
    chat(client, other, unsure)  # got the same suggestions, chose none

    gap = gap_with(client, admin_headers, unsure)
    assert gap is not None and gap["reasons"]["fallback"] >= 2
    faq_id = int(warranty["payload"].split(":")[1].strip(" }"))
    assert gap["chosen"] == [{"faq_id": faq_id, "faq_question": warranty["title"], "questions": [unsure]}]
