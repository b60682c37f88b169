"""The fallback's suggestions ("Is your question one of these?") through the REST webhook and the widget, on the
real sample shop, models and both databases: the buttons, choosing one, yes to a lone one, and bad payloads."""

import json
import uuid

import pytest
from sqlalchemy import select

from dialogue.records import TurnRecord
from tests.conftest import chat

pytestmark = pytest.mark.integration

# The sample shop's own eval question (bot/sample/eval.yaml) that its calibration leaves to the fallback, though its
# FAQ ranks first: MiniLM reads "won't turn on any more after a year" too far from "warranty claim".
UNSURE = "My thermostat won't turn on any more after a year, how do I get it fixed?"
WARRANTY = "How do I make a warranty claim?"
LONE = "Do you have a refer-a-friend programme?"  # out of scope; one FAQ is close enough to suggest


def faq_buttons(reply: dict) -> list[dict]:
    return [button for button in reply.get("buttons") or [] if button["payload"].startswith("/faq")]


def user_turns(services, conversation_id: int) -> list[str]:
    with services.sessions() as session:
        return list(session.scalars(select(TurnRecord.text).where(
            TurnRecord.conversation_id == conversation_id, TurnRecord.role == "user").order_by(TurnRecord.id)))


def test_the_fallback_suggests_the_faqs_it_came_closest_to_and_a_press_answers_one(client, services, sender):
    reply = chat(client, sender, UNSURE)
    assert reply["custom"]["kind"] == "fallback"
    assert reply["text"].startswith("I'm not sure I understood. Is your question one of these?")
    suggested = faq_buttons(reply)
    assert 1 <= len(suggested) <= 3
    assert WARRANTY in [button["title"] for button in suggested]
    assert reply["buttons"][-1] == {"title": "Talk to a person", "payload": "talk to a person"}
    assert all(len(button["payload"].encode()) <= 64 for button in reply["buttons"])  # Telegram's callback data

    pressed = next(button for button in suggested if button["title"] == WARRANTY)
    answer = chat(client, sender, pressed["payload"])
    faq = services.knowledge.get(json.loads(pressed["payload"].removeprefix("/faq"))["id"])
    assert (faq.question, answer["custom"]["kind"], answer["text"]) == (WARRANTY, "faq", faq.answer)
    assert answer["custom"]["sources"][0]["title"] == WARRANTY
    # The transcript reads as the customer chose it, not as the payload, and the turn says what was chosen.
    assert user_turns(services, reply["custom"]["conversation_id"]) == [UNSURE, WARRANTY]
    with services.sessions() as session:
        chosen = session.scalars(select(TurnRecord).where(
            TurnRecord.conversation_id == reply["custom"]["conversation_id"], TurnRecord.role == "user")
            .order_by(TurnRecord.id.desc())).first()
        assert chosen.metadata_["suggestion_chosen"] == faq.id


def test_the_widget_shows_the_suggestions_live_and_in_its_history(client):
    sender = uuid.uuid4().hex
    response = client.post("/widget/messages", json={"sender": sender, "message": UNSURE})
    assert response.status_code == 200, response.text
    [reply] = [json.loads(line[len("data: "):]) for line in response.text.splitlines()
               if line.startswith("data: ") and '"recipient_id"' in line]
    assert WARRANTY in [button["title"] for button in faq_buttons(reply)]
    history = client.get("/widget/history", params={"sender": sender}).json()
    assert history["turns"][-1]["buttons"] == reply["buttons"]


def test_yes_to_a_lone_suggestion_answers_it(client, services, sender):
    reply = chat(client, sender, LONE)
    suggested = faq_buttons(reply)
    assert reply["custom"]["kind"] == "fallback" and len(suggested) == 1
    answer = chat(client, sender, "yes please")
    faq = services.knowledge.get(json.loads(suggested[0]["payload"].removeprefix("/faq"))["id"])
    assert (answer["custom"]["kind"], answer["text"]) == ("faq", faq.answer)


def test_yes_to_several_suggestions_or_none_still_hands_over(client, sender):
    reply = chat(client, sender, UNSURE)
    assert len(faq_buttons(reply)) >= 2
    assert chat(client, sender, "yes")["custom"]["kind"] == "handoff"

    other = sender + "-b"
    bare = chat(client, other, "Give me a recipe for vegetarian lasagne")
    assert bare["custom"]["kind"] == "fallback" and not bare.get("buttons")
    assert chat(client, other, "yes")["custom"]["kind"] == "handoff"


def test_the_person_button_hands_over(client, sender):
    reply = chat(client, sender, UNSURE)
    assert chat(client, sender, reply["buttons"][-1]["payload"])["custom"]["kind"] == "handoff"


@pytest.mark.parametrize("payload", ['/faq{"id": 999999}', '/faq{"id": "1"}', '/faq{"id": true}', '/faq{"id": -3}',
                                     '/faq{"id": 1', "/faq"])
def test_a_payload_for_no_faq_is_answered_as_a_message(client, sender, payload):
    reply = chat(client, sender, payload)
    assert reply["custom"]["kind"] == "fallback"


def test_hit_testing_shows_what_the_fallback_would_suggest(client, services, admin_headers):
    response = client.post("/admin/search", json={"query": UNSURE, "top_k": 5}, headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    thresholds = services.manager.thresholds()
    assert body["decision"] == "fallback" and body["thresholds"]["suggest"] == pytest.approx(thresholds.suggest)
    assert body["thresholds"]["suggest"] < body["thresholds"]["generate"]
    titles = {hit["faq_id"]: hit["question"] for hit in body["hits"] if hit["faq_id"]}
    assert WARRANTY in [titles[faq_id] for faq_id in body["suggested"]]
    confident = client.post("/admin/search", json={"query": "How do I return a device?"}, headers=admin_headers)
    assert confident.json()["decision"] == "faq" and confident.json()["suggested"] == []


def test_an_operator_may_turn_the_suggestions_off_or_offer_fewer(services, tmp_path):
    from fastapi.testclient import TestClient

    from bot.app import create_app
    from bot.services import build_services

    for count, expected in ((0, 0), (1, 1)):
        settings = services.settings.model_copy(update={"fallback_suggestions": count})
        fewer = build_services(settings, embedder=services.embedder, generator=services.generator)
        fewer.start(with_lm=False)
        try:
            with TestClient(create_app(settings, fewer)) as client:
                reply = chat(client, f"few-{count}-{uuid.uuid4().hex[:8]}", UNSURE)
            assert reply["custom"]["kind"] == "fallback" and len(faq_buttons(reply)) == expected
            assert reply["text"].startswith("I'm sorry") if expected == 0 else "one of these" in reply["text"]
        finally:
            fewer.engine.dispose()
