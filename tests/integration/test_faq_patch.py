"""PATCH /admin/faqs/{id}: a partial edit keeps what it does not name; PUT stays a full replacement."""

import pytest

from retrieval.errors import FaqChanged
from retrieval.faqs import make_draft
from tests.conftest import chat

pytestmark = pytest.mark.integration

GIFT_FAQ = {
    "question": "Do you offer gift wrapping for presents?",
    "answer": "Yes: tick 'gift wrap' at checkout; it costs £3 and hides the price.",
    "alt_questions": ["Can you wrap my order as a present?", "gift wrap"],
    "tags": ["orders", "gifts"],
}


@pytest.fixture()
def faq(client, admin_headers):
    created = client.post("/admin/faqs", json=GIFT_FAQ, headers=admin_headers)
    assert created.status_code == 201
    yield created.json()
    client.delete(f"/admin/faqs/{created.json()['id']}", headers=admin_headers)


def test_patching_the_answer_keeps_the_alternative_questions_and_tags(client, admin_headers, faq, sender):
    new_answer = "Yes, gift wrapping is free this month: tick 'gift wrap' at checkout."
    patched = client.patch(f"/admin/faqs/{faq['id']}", json={"answer": new_answer}, headers=admin_headers)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["answer"] == new_answer and body["version"] == faq["version"] + 1
    assert (body["question"], body["alt_questions"], body["tags"]) == (
        GIFT_FAQ["question"], GIFT_FAQ["alt_questions"], GIFT_FAQ["tags"])
    # The alternative question still reaches the curated answer, now the new one.
    reply = chat(client, sender, "Can you wrap my order as a present?")
    assert (reply["custom"]["kind"], reply["text"]) == ("faq", new_answer)


def test_patching_a_list_replaces_it_whole(client, admin_headers, faq):
    patched = client.patch(f"/admin/faqs/{faq['id']}", json={"tags": ["Seasonal"]}, headers=admin_headers).json()
    assert patched["tags"] == ["seasonal"]
    assert patched["alt_questions"] == GIFT_FAQ["alt_questions"] and patched["answer"] == GIFT_FAQ["answer"]


def test_put_is_a_full_replacement_and_says_so(client, admin_headers, faq):
    replaced = client.put(f"/admin/faqs/{faq['id']}", json={"question": GIFT_FAQ["question"], "answer": "Yes."},
                          headers=admin_headers).json()
    assert replaced["alt_questions"] == [] and replaced["tags"] == []
    operations = client.get("/openapi.json").json()["paths"]["/admin/faqs/{faq_id}"]
    assert "PATCH /admin/faqs/{faq_id}" in operations["put"]["description"]
    assert "deletes them" in operations["put"]["description"]
    assert "keep their stored values" in operations["patch"]["description"]


def test_a_change_to_an_old_version_is_refused_and_changes_nothing(client, admin_headers, faq):
    first = client.patch(f"/admin/faqs/{faq['id']}", json={"answer": "First editor's answer.",
                                                            "version": faq["version"]}, headers=admin_headers)
    assert first.status_code == 200
    late = client.patch(f"/admin/faqs/{faq['id']}", json={"answer": "Second editor's answer.",
                                                           "version": faq["version"]}, headers=admin_headers)
    assert late.status_code == 409
    assert f"version {faq['version'] + 1}" in late.json()["detail"]
    assert "GET /admin/faqs/" in late.json()["detail"]
    assert client.get(f"/admin/faqs/{faq['id']}", headers=admin_headers).json()["answer"] == "First editor's answer."


def test_the_knowledge_base_refuses_a_write_to_a_version_that_moved_on(services, faq):
    draft = make_draft(GIFT_FAQ["question"], "Another answer.", GIFT_FAQ["alt_questions"], GIFT_FAQ["tags"])
    with pytest.raises(FaqChanged):
        services.knowledge.update(faq["id"], draft, expected_version=faq["version"] + 5)
    assert services.knowledge.get(faq["id"]).answer == GIFT_FAQ["answer"]


@pytest.mark.parametrize("body, where", [
    ({}, "Nothing to change"),
    ({"version": 1}, "Nothing to change"),
    ({"question": None}, "question"),
    ({"answer": ""}, "answer"),
    ({"alt_questions": None}, "alt_questions"),
    ({"colour": "red"}, "colour"),
])
def test_bad_patches_are_a_422_that_says_what(client, admin_headers, faq, body, where):
    response = client.patch(f"/admin/faqs/{faq['id']}", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert where in response.text
    assert client.get(f"/admin/faqs/{faq['id']}", headers=admin_headers).json()["version"] == faq["version"]


def test_patch_needs_an_editor_and_an_existing_faq(client, admin_headers, make_key, faq):
    viewer = client.patch(f"/admin/faqs/{faq['id']}", json={"answer": "No."}, headers=make_key("viewer"))
    assert viewer.status_code == 403 and "editor" in viewer.json()["detail"]
    assert client.patch(f"/admin/faqs/{faq['id']}", json={"answer": "Yes, by an editor."},
                        headers=make_key("editor")).status_code == 200
    missing = client.patch("/admin/faqs/987654", json={"answer": "No."}, headers=admin_headers)
    assert missing.status_code == 404 and "No FAQ with id 987654" in missing.json()["detail"]
