"""The chat loop through the Rasa-compatible REST webhook, on real models, FAISS and both databases."""

import asyncio

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.services import build_services
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord
from tests.conftest import VERIFIED, chat

pytestmark = pytest.mark.integration


def turns_of(services, conversation_id: int) -> list[TurnRecord]:
    with services.sessions() as session:
        return list(session.scalars(
            select(TurnRecord).where(TurnRecord.conversation_id == conversation_id).order_by(TurnRecord.id)))


def test_health_reports_loaded_models(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["lm_model"] == "SmolLM2-135M-Instruct"
    assert body["faqs_indexed"] >= 40


def test_strong_match_gets_the_curated_answer_verbatim(client, services, sender):
    faq = next(f for f in services.knowledge.page(0, 100)[0] if f.question == "How do I return a device?")
    calls_before = services.generator.calls
    reply = chat(client, sender, "What is the return policy for devices?")
    assert reply["custom"]["kind"] == "faq"
    assert reply["text"] == faq.answer
    assert reply["custom"]["sources"] == [{"id": faq.id, "title": faq.question}]
    assert services.generator.calls == calls_before
    bot_turn = turns_of(services, reply["custom"]["conversation_id"])[-1]
    assert (bot_turn.role, bot_turn.kind, bot_turn.model_id) == ("bot", "faq", None)
    assert bot_turn.latency_ms > 0


def test_a_curated_no_is_dropped_where_the_answer_itself_says_yes(client, services, sender):
    """Issue 24: "do you ship to germany?" got the customs FAQ's "No. We only ship to the UK, the EU and the US"."""
    faq = next(f for f in services.knowledge.page(0, 100)[0] if f.question.startswith("Will I have to pay customs"))
    assert faq.answer.startswith("No. We only ship")
    germany = chat(client, sender, "Do you ship to Germany?")
    assert germany["custom"]["kind"] == "faq" and germany["custom"]["sources"][0]["id"] == faq.id
    assert germany["text"] == faq.answer.removeprefix("No. ")
    own = chat(client, sender, "Will I have to pay customs or import duties?")
    assert own["text"] == faq.answer  # the FAQ's own question: its "No." answers it


def test_partial_match_goes_to_the_lm_and_its_reply_is_checked(client, services, sender):
    calls_before = services.generator.calls
    reply = chat(client, sender, "Does Nimbus Plus extend the warranty on a thermostat I bought last year?")
    assert services.generator.calls == calls_before + 1
    bot_turn = turns_of(services, reply["custom"]["conversation_id"])[-1]
    assert bot_turn.model_id == "SmolLM2-135M-Instruct"
    titles = [source["title"] for source in reply["custom"]["sources"]]
    assert [s["title"] for s in bot_turn.sources] == titles
    if reply["custom"]["kind"] == "generated":  # passed the check (dialogue/grounding.py)
        assert "What does the Nimbus warranty cover?" in titles and bot_turn.rejected_reply is None
    else:  # stopped by it: a confident curated answer or the fallback went out instead; the rejected text is kept
        assert (reply["custom"]["kind"], titles) in (("faq", ["What does the Nimbus warranty cover?"]),
                                                     ("fallback", []))
        assert bot_turn.rejected_reply["reasons"] and bot_turn.rejected_reply["text"] != reply["text"]


def test_out_of_scope_question_falls_back_without_calling_the_lm(client, services, sender):
    calls_before = services.generator.calls
    reply = chat(client, sender, "Give me a recipe for vegetarian lasagne")
    assert reply["custom"]["kind"] == "fallback"
    assert "person" in reply["text"]
    assert reply["custom"]["sources"] == []
    assert services.generator.calls == calls_before


def test_asking_for_a_person_hands_the_conversation_over(client, services, sender):
    reply = chat(client, sender, "I want to talk to a human please")
    assert reply["custom"]["kind"] == "handoff"
    conversation_id = reply["custom"]["conversation_id"]
    with services.sessions() as session:
        assert session.get(ConversationRecord, conversation_id).status == "handoff"
    calls_before = services.generator.calls
    later = chat(client, sender, "How much does shipping cost?")
    assert later["custom"]["kind"] == "handoff"
    assert later["custom"]["conversation_id"] == conversation_id
    assert services.generator.calls == calls_before
    assert [t.text for t in turns_of(services, conversation_id) if t.role == "user"] == [
        "I want to talk to a human please", "How much does shipping cost?"]


@pytest.mark.parametrize(
    ("first", "follow_up", "expected", "alone"),
    [
        ("How do I return a device?", "And for accessories?", "How do I return an accessory?", "fallback"),
        ("How long does shipping take?", "What about to the US?",
         "How long does delivery take and how much does shipping cost?",
         "Will I have to pay customs or import duties?"),
    ],
)
def test_follow_up_is_rewritten_with_the_conversation(client, services, admin_headers, sender, first, follow_up,
                                                      expected, alone):
    # Alone, the follow-up finds nothing usable or the wrong FAQ...
    hit_test = client.post("/admin/search", json={"query": follow_up, "top_k": 1}, headers=admin_headers).json()
    # (hybrid search may rank another FAQ first for "What about to the US?"; its cosine still falls back)
    assert alone in (hit_test["decision"], hit_test["hits"][0]["question"]) or hit_test["decision"] == "fallback"
    # ...in the conversation it finds the FAQ the customer means.
    chat(client, sender, first)
    reply = chat(client, sender, follow_up)
    assert reply["custom"]["kind"] in ("faq", "generated")
    assert reply["custom"]["sources"][0]["title"] == expected
    user_turn = [t for t in turns_of(services, reply["custom"]["conversation_id"]) if t.role == "user"][-1]
    assert user_turn.text == follow_up
    # Elliptical "And for …" is rewritten into the question; others are blended with it (dialogue/context.py).
    assert user_turn.search_query in (f"{first} {follow_up}", "How do I return accessories?")


def test_a_follow_up_that_asks_a_whole_question_is_searched_alone(client, services, sender):
    # "its" reads as pointing back, and blended with "I bought a Nimbus Cam" the search is not sure enough to
    # quote; the message alone is.
    chat(client, sender, "I bought a Nimbus Cam")
    reply = chat(client, sender, "Where are its recordings stored?")
    assert reply["custom"]["kind"] == "faq"
    assert reply["custom"]["sources"][0]["title"] == "Where are my camera recordings stored?"
    user_turn = [t for t in turns_of(services, reply["custom"]["conversation_id"]) if t.role == "user"][-1]
    assert user_turn.search_query is None  # searched as written, and the next follow-up reads it so


def test_a_follow_up_without_a_pointer_is_read_with_the_conversation_when_alone_it_finds_nothing(
        client, services, admin_headers, sender):
    alone = client.post("/admin/search", json={"query": "the link never arrived", "top_k": 1},
                        headers=admin_headers).json()
    assert alone["decision"] == "fallback"
    first = "I forgot the password for the app"
    chat(client, sender, first)
    reply = chat(client, sender, "the link never arrived")
    # Blended with the previous question, the FAQ the message itself ranked first is confident enough for the
    # LM; whether SmolLM2's reply passes the check or not, that FAQ is what the customer is shown.
    shown = reply["custom"]["sources"] or [{"title": button["title"]} for button in reply.get("buttons", [])]
    assert shown[0]["title"] == "How do I reset my Nimbus app password?"
    user_turn = [t for t in turns_of(services, reply["custom"]["conversation_id"]) if t.role == "user"][-1]
    assert user_turn.search_query == f"{first} the link never arrived"


def test_a_new_question_after_an_answered_one_is_not_pulled_to_the_earlier_topic(client, admin_headers, sender):
    chat(client, sender, "I forgot the password for the app")
    reply = chat(client, sender, "Do you sell lawnmowers?")
    assert reply["custom"]["kind"] == "fallback"
    assert all("password" not in button["title"] for button in reply.get("buttons", []))


def test_pronoun_follow_up_reaches_the_curated_answer(client, sender):
    chat(client, sender, "I just bought a Nimbus Hub.")
    reply = chat(client, sender, "How do I activate it?")
    assert reply["custom"]["sources"][0]["title"] == "How do I activate my Nimbus Hub?"


def test_profile_is_remembered_in_a_later_conversation_and_only_for_that_customer(client, sender):
    # As a verified sender (the shared secret): only those get their stored profile back (test_verified_senders.py).
    first = chat(client, sender, "Hi, my name is Alice Martin and my email is alice@example.org", headers=VERIFIED)
    assert first["custom"]["kind"] == "action"
    assert "Alice Martin" in first["text"]
    restarted = chat(client, sender, "/restart", headers=VERIFIED)
    later = chat(client, sender, "What's my name?", headers=VERIFIED)
    assert later["custom"]["conversation_id"] != restarted["custom"]["conversation_id"]
    assert later["text"] == "Your name is Alice Martin."
    assert "alice@example.org" in chat(client, sender, "What email do you have for me?", headers=VERIFIED)["text"]

    stranger = chat(client, sender + "-other", "What's my name?", headers=VERIFIED)
    assert "Alice" not in stranger["text"]
    assert "don't have your name" in stranger["text"]
    assert "alice@example.org" not in chat(client, sender + "-other", "what is my email?", headers=VERIFIED)["text"]


def test_profile_facts_and_question_in_one_message(client, sender):
    reply = chat(client, sender, "My order number is NH-48213, how can I track my order?")
    assert reply["custom"]["kind"] == "faq"
    assert reply["custom"]["sources"][0]["title"] == "How can I track my order?"
    assert "NH-48213" in chat(client, sender, "What is my order number?", headers=VERIFIED)["text"]


def test_idle_conversation_is_closed_and_a_new_one_starts(services, tmp_path, sender):
    settings = services.settings.model_copy(update={"conversation_timeout_minutes": 1e-6})
    idle = build_services(settings, embedder=services.embedder, generator=services.generator)
    idle.start()
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings, idle)) as client:
        first = chat(client, sender, "hello")
        second = chat(client, sender, "hello again")
    assert first["custom"]["conversation_id"] != second["custom"]["conversation_id"]
    idle.engine.dispose()


def test_same_sender_is_the_same_customer_after_a_restart(services, sender):
    from fastapi.testclient import TestClient

    with TestClient(create_app(services.settings, services)) as client:
        chat(client, sender, "my name is Priya")
    restarted = build_services(services.settings, embedder=services.embedder, generator=services.generator)
    restarted.start()
    with TestClient(create_app(restarted.settings, restarted)) as client:
        assert chat(client, sender, "what's my name?", headers=VERIFIED)["text"] == "Your name is Priya."
    restarted.engine.dispose()


async def test_concurrent_messages_of_one_conversation_stay_in_order(services, sender):
    app = create_app(services.settings, services)
    messages = [
        "Does Nimbus Plus extend the warranty on a thermostat I bought last year?",  # generated: slow
        "What is the return policy for devices?",  # FAQ: fast, must still come second
        "Give me a recipe for vegetarian lasagne",
    ]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        async def send(text: str, delay: float):
            await asyncio.sleep(delay)
            response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
            assert response.status_code == 200
            return response.json()[0]

        replies = await asyncio.gather(*(send(text, i * 0.05) for i, text in enumerate(messages)))
    conversation_id = replies[0]["custom"]["conversation_id"]
    turns = turns_of(services, conversation_id)
    assert [t.role for t in turns] == ["user", "bot"] * 3
    assert [t.text for t in turns if t.role == "user"] == messages
    assert [t.kind for t in turns if t.role == "bot"] == [r["custom"]["kind"] for r in replies]
    assert [r["custom"]["kind"] for r in replies][1:] == ["faq", "fallback"]


def test_metadata_is_stored_with_the_message(client, services, sender):
    reply = chat(client, sender, "hello", metadata={"page": "/pricing", "locale": "en-GB"})
    user_turn = turns_of(services, reply["custom"]["conversation_id"])[0]
    assert user_turn.metadata_ == {"page": "/pricing", "locale": "en-GB"}


def test_feedback_is_stored_on_the_bot_turn_of_that_sender_only(client, services, sender):
    reply = chat(client, sender, "What is the return policy for devices?")
    turn_id = reply["custom"]["turn_id"]
    assert client.post("/feedback",
                       json={"sender": sender + "-x", "turn_id": turn_id, "rating": "up"}).status_code == 404
    assert client.post("/feedback", json={"sender": sender, "turn_id": turn_id, "rating": "meh"}).status_code == 422
    assert client.post("/feedback", json={"sender": sender, "turn_id": turn_id, "rating": "up"}).status_code == 204
    with services.sessions() as session:
        assert session.get(TurnRecord, turn_id).feedback == 1


class _CrashingGenerator:
    """The real generator's interface, failing the way a model can (out of memory, a broken adapter)."""

    def __init__(self, real):
        self.model_id, self.calls, self._real = real.model_id, 0, real

    def count_tokens(self, text: str) -> int:
        return self._real.count_tokens(text)

    def generate(self, messages, *, max_new_tokens, temperature):
        raise RuntimeError("CUDA out of memory (simulated)")


def test_a_crash_mid_reply_keeps_the_message_and_hides_the_trace(services, sender):
    from fastapi.testclient import TestClient

    crashing = build_services(services.settings, embedder=services.embedder,
                              generator=_CrashingGenerator(services.generator))
    crashing.start()
    question = "Does Nimbus Plus extend the warranty on a thermostat I bought last year?"
    with TestClient(create_app(crashing.settings, crashing), raise_server_exceptions=False) as client:
        response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": question})
    assert response.status_code == 500
    assert "Traceback" not in response.text and "CUDA" not in response.text
    assert "recorded" in response.json()["detail"]
    with services.sessions() as session:
        stored = session.scalars(
            select(TurnRecord)
            .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.external_id == sender)).all()
    assert [(turn.role, turn.kind) for turn in stored] == [("user", "message")]
    crashing.engine.dispose()


async def test_faq_answers_do_not_queue_behind_generations_of_other_customers(services):
    app = create_app(services.settings, services)
    transport = httpx.ASGITransport(app=app)
    finished: list[str] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=600) as client:
        async def send(sender: str, text: str, label: str, delay: float = 0.0):
            await asyncio.sleep(delay)
            response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
            finished.append(label)
            return response.json()[0]["custom"]["kind"]

        # More customers waiting for the LM than a default thread pool has threads on a small machine.
        generations = [send(f"busy-{i}", "Does Nimbus Plus extend the warranty on a thermostat I bought last year?",
                            f"generated-{i}") for i in range(8)]
        faq = send("quick-customer", "What is the return policy for devices?", "faq", delay=0.3)
        calls_before = services.generator.calls
        kinds = await asyncio.gather(*generations, faq)
    # Each of the eight went to the LM (its reply then passed the check or was replaced, either way).
    assert kinds[-1] == "faq" and services.generator.calls == calls_before + 8
    # At most the generation already running when it arrived may finish first.
    assert finished.index("faq") <= 1
