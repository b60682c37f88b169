"""A capable LM's judgement (dialogue/judgement.py) through the REST webhook and agent assist, on both databases.

The LM is a real local OpenAI-compatible server (tests/support/lm_server.py) whose replies each test writes,
reached by the product's own OpenAI backend: the paths under test are what the bot does with an LM's output
(a rewrite searched again, a JSON answer checked against the snippets it cites, an answer outside the form,
a snippet it was not given, a timeout), which a real model takes only by chance.
"""

import json
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.app import create_app
from bot.cli.serve import SAMPLE_FAQS
from bot.services import build_services
from dialogue.records import TurnRecord
from retrieval.faq_files import read_faq_file
from tests.conftest import chat, make_settings
from tests.support.lm_server import Rule, ScriptedLMServer, snippet_number

pytestmark = pytest.mark.integration

REWRITE = "standalone question for searching"  # in the rewrite prompt
ANSWER = "Reply with JSON only"  # in the answer prompt
RETURNS = "How do I return a device?"
PLUS = "What's included in Nimbus Plus?"


@pytest.fixture(scope="module")
def lm_server():
    """The scripted LM server, one per module; test_judgement_verify.py and test_crosslingual_judgement.py import
    it."""
    server = ScriptedLMServer().start()
    yield server
    server.stop()


def judged_services(data_dir, database_url, models_dir, embedder, lm_server, judgement: str = "auto", **settings):
    """The sample shop's services whose LM is the scripted server, a capable model as far as
    HELPDESK_JUDGEMENT=auto can tell; calibrated."""
    settings = make_settings(data_dir, database_url, models_dir, lm_backend="openai", lm_url=lm_server.url,
                             lm_model=lm_server.model, lm_retries=0, judgement=judgement,
                             judgement_timeout_seconds=2.0, **settings)
    services = build_services(settings, embedder=embedder)
    services.start()
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    services.knowledge.calibrator.train_now()
    return services


@pytest.fixture(scope="module")
def judged(database_url, tmp_path_factory, models_dir, embedder, lm_server):
    services = judged_services(tmp_path_factory.mktemp("judged"), database_url, models_dir, embedder, lm_server,
                               judgement_steps="rewrite,answer,compose")
    yield services
    services.engine.dispose()


def client_of(services):
    """The app on `services` in a TestClient, for a client fixture (`yield from client_of(services)`)."""
    with TestClient(create_app(services.settings, services)) as test_client:
        yield test_client


@pytest.fixture()
def client(judged):
    yield from client_of(judged)


def citing(answer: str, title: str):
    """An LM's answer in the JSON form, citing the snippet titled `title` by its number in the prompt."""
    return lambda messages: json.dumps({"answer": answer, "sources": [snippet_number(messages, title)]})


def sender() -> str:
    return f"judged-{uuid.uuid4().hex[:8]}"


def last_bot_turn(services, conversation_id: int) -> TurnRecord:
    with services.sessions() as session:
        return session.scalars(select(TurnRecord).where(TurnRecord.conversation_id == conversation_id,
                                                        TurnRecord.role != "user")
                               .order_by(TurnRecord.id.desc())).first()


def last_user_turn(services, conversation_id: int) -> TurnRecord:
    with services.sessions() as session:
        return session.scalars(select(TurnRecord).where(TurnRecord.conversation_id == conversation_id,
                                                        TurnRecord.role == "user")
                               .order_by(TurnRecord.id.desc())).first()


def test_a_confident_faq_never_waits_for_the_lm(client, lm_server):
    lm_server.script()
    reply = chat(client, sender(), "How much is Nimbus Plus per month?")
    assert reply["custom"]["kind"] == "faq" and lm_server.requests == []


def message_in(services, candidates: list[str], low: float, high: float) -> str:
    """The first candidate whose best confidence is in [low, high): the band a test needs, whatever the
    calibration of the moment put the thresholds at."""
    for message in candidates:
        if low <= services.knowledge.search(message, top_k=1)[0].confidence < high:
            return message
    raise AssertionError(f"none of {candidates} has its best confidence in [{low:.2f}, {high:.2f})")


def test_an_uncertain_message_is_rewritten_searched_again_and_answered_verbatim(client, judged, lm_server):
    thresholds = judged.manager.thresholds()
    message = message_in(judged, ["Can I get my money back for my hub?", "Can I get my cash back for the camera?"],
                         thresholds.generate - 0.15, thresholds.generate)
    lm_server.script(Rule(REWRITE, RETURNS))
    reply = chat(client, sender(), message)
    faq = next(f for f in judged.knowledge.page(0, 100)[0] if f.question == RETURNS)
    assert reply["custom"]["kind"] == "faq" and reply["text"] == faq.answer
    assert len(lm_server.requests) == 1  # the rewrite only: the standalone question found a confident FAQ
    assert last_user_turn(judged, reply["custom"]["conversation_id"]).search_query == RETURNS


def test_an_answer_copied_from_a_snippet_of_another_topic_is_not_sent(client, judged, lm_server):
    # What Qwen2.5-Coder-1.5B did on the mobile operator: "I typed my PIN wrong three times" answered with the
    # porting-code FAQ's own words. Every sentence is grounded; only the topic is wrong.
    thresholds = judged.manager.thresholds()
    message = message_in(judged, ["the camera I bought is rubbish, can I send it back"], thresholds.generate,
                         thresholds.faq)
    copied = {}

    def another_topic(messages):
        snippets = re.findall(r"\[(\d+)\] (.+?)\n(.+?)(?=\n\n\[\d+\] |\n\nCustomer question:)", messages[-1]["content"],
                              flags=re.DOTALL)
        number, title, text = next(snippet for snippet in snippets if snippet[1] != RETURNS)
        copied["title"] = title
        return json.dumps({"answer": text.split(". ")[0].rstrip(".") + ".", "sources": [int(number)]})

    lm_server.script(Rule(REWRITE, RETURNS), Rule(ANSWER, another_topic))
    reply = chat(client, sender(), message)
    assert reply["custom"]["kind"] == "fallback", reply
    turn = last_bot_turn(judged, reply["custom"]["conversation_id"])
    assert turn.rejected_reply["reasons"] == ["rests on no best match of the message or of its standalone question"]
    assert copied["title"] != RETURNS


def test_a_message_with_snippets_already_is_answered_without_a_rewrite(client, judged, lm_server):
    thresholds = judged.manager.thresholds()
    message = message_in(judged, ["the camera I bought is rubbish, can I send it back"], thresholds.generate,
                         thresholds.faq)
    answer = "You can return any Nimbus device within 30 days."
    lm_server.script(Rule(REWRITE, RETURNS), Rule(ANSWER, lambda messages: json.dumps(
        {"answer": answer, "sources": [snippet_number(messages, RETURNS)]})))
    reply = chat(client, sender(), message)
    turn = last_bot_turn(judged, reply["custom"]["conversation_id"])
    assert reply["custom"]["kind"] == "generated", (turn.rejected_reply, lm_server.requests[-1][-1]["content"])
    assert len(lm_server.requests) == 1 and REWRITE not in lm_server.requests[0][0]["content"]


def test_the_lm_answers_from_the_snippets_it_cites(client, lm_server):
    answer = citing("You can return any Nimbus device within 30 days of delivery for any reason.", RETURNS)
    lm_server.script(Rule(REWRITE, "Can I get my cash back for the camera?"), Rule(ANSWER, answer))
    reply = chat(client, sender(), "Can I get my cash back for the camera?")
    assert reply["custom"]["kind"] == "generated", reply
    assert reply["text"] == "You can return any Nimbus device within 30 days of delivery for any reason [1]."
    assert [source["title"] for source in reply["custom"]["sources"]] == [RETURNS]
    assert f"{RETURNS}\n" in lm_server.requests[-1][-1]["content"]


def test_an_answer_that_cites_the_wrong_number_rests_on_the_snippet_that_supports_it(client, lm_server):
    def off_by_one(messages):
        others = [n for n in range(1, 4) if f"[{n}] " in messages[-1]["content"]
                  and n != snippet_number(messages, RETURNS)]
        return json.dumps({"answer": "You can return any Nimbus device within 30 days of delivery.",
                           "sources": others[:1]})

    lm_server.script(Rule(REWRITE, "Can I get my cash back for the camera?"), Rule(ANSWER, off_by_one))
    reply = chat(client, sender(), "Can I get my cash back for the camera?")
    assert reply["custom"]["kind"] == "generated"
    assert [source["title"] for source in reply["custom"]["sources"]] == [RETURNS]


def test_an_answer_resting_only_on_snippets_below_the_generate_threshold_is_not_sent(client, judged, lm_server):
    thresholds = judged.manager.thresholds()
    message = message_in(judged, ["Can I get my money back for my hub?", "Can I get my cash back for the camera?"],
                         thresholds.generate - 0.15, thresholds.generate)
    top = judged.knowledge.search(message, top_k=1)[0]
    lm_server.script(Rule(REWRITE, message), Rule(ANSWER, citing(top.faq.answer.split(". ")[0] + ".", top.title)))
    reply = chat(client, sender(), message)
    assert reply["custom"]["kind"] == "fallback"
    turn = last_bot_turn(judged, reply["custom"]["conversation_id"])
    assert turn.rejected_reply["reasons"] == ["rests only on snippets below the generate threshold"]


def test_a_wrong_answer_is_stopped_and_kept_for_admins(client, judged, lm_server):
    wrong = citing("You can return any Nimbus device within 14 days of delivery.", RETURNS)
    lm_server.script(Rule(ANSWER, wrong), Rule(REWRITE, "Can I get my cash back for the camera?"))
    reply = chat(client, sender(), "Can I get my cash back for the camera?")
    assert reply["custom"]["kind"] == "fallback"  # the top FAQ is not confident enough to be sent instead
    turn = last_bot_turn(judged, reply["custom"]["conversation_id"])
    assert turn.rejected_reply["text"] == "You can return any Nimbus device within 14 days of delivery."
    assert "14 days" in turn.rejected_reply["reasons"][0]


def test_an_answer_that_only_says_it_cannot_answer_gets_the_fallback(client, judged, lm_server):
    lm_server.script(Rule(REWRITE, "Can I get my cash back for the camera?"),
                     Rule(ANSWER, citing("I'm sorry, I do not know.", RETURNS)))
    reply = chat(client, sender(), "Can I get my cash back for the camera?")
    assert reply["custom"]["kind"] == "fallback"  # which offers the FAQs that came close and a person
    turn = last_bot_turn(judged, reply["custom"]["conversation_id"])
    assert turn.rejected_reply["text"] == "I'm sorry, I do not know."
    assert turn.rejected_reply["reasons"] == ["only says it cannot answer: the fallback offers FAQs and a person"]


@pytest.mark.parametrize("output, reason", [
    ("Sure! Nimbus Plus is great value.", "outside the JSON form"),
    ('{"answer": "Nimbus Plus costs £4.99 a month.", "sources": [7]}', "a snippet it was not given"),
    ('{"answer": "Nimbus Plus costs £4.99 a month.", "sources": []}', "without naming its snippets"),
    ('{"answer": null, "sources": []}', "do not answer"),
])
def test_output_outside_the_form_is_cannot_answer_with_the_raw_output_kept(client, judged, lm_server, output, reason):
    lm_server.script(Rule(REWRITE, "Can I get my money back for the camera?"), Rule(ANSWER, output))
    reply = chat(client, sender(), "Can I get my cash back for the camera?")
    assert reply["custom"]["kind"] == "fallback"
    turn = last_bot_turn(judged, reply["custom"]["conversation_id"])
    assert turn.rejected_reply["text"] == output and reason in turn.rejected_reply["reasons"][0]


def test_an_lm_that_runs_past_the_timeout_is_cannot_answer(client, judged, lm_server):
    late = '{"answer": "Nimbus Plus costs £4.99 a month.", "sources": [1]}'
    lm_server.script(Rule(REWRITE, "Can I get my money back for the camera?"),
                     Rule(ANSWER, late + " " + "padding " * 5, delay_seconds=4.0))
    reply = chat(client, sender(), "Can I get my cash back for the camera?")
    assert reply["custom"]["kind"] == "fallback"
    turn = last_bot_turn(judged, reply["custom"]["conversation_id"])
    assert "no answer within 2 s" in turn.rejected_reply["reasons"][0]


def test_assist_drafts_through_the_same_path_and_never_offers_a_stopped_draft(client, judged, lm_server,
                                                                              admin_headers):
    question = "is the plus thing worth the money"
    lm_server.script(Rule(REWRITE, question), Rule(ANSWER, citing("Nimbus Plus gives you 60 days of cloud video "
                                                                  "history.", PLUS)))
    conversation_id = chat(client, sender(), f"Can I speak to someone? {question}")["custom"]["conversation_id"]
    body = client.get(f"/admin/conversations/{conversation_id}/suggestions", headers=admin_headers).json()
    assert body["rejected"]["text"] == "Nimbus Plus gives you 60 days of cloud video history."
    assert "60 days" in body["rejected"]["reasons"][0] and "not offered" in body["note"]
    assert body["draft"]["kind"] == "faq" and "60 days" not in body["draft"]["text"]  # what chat would send
    good = "Nimbus Plus gives you 30 days of cloud video history for all your Nimbus Cams."
    lm_server.script(Rule(REWRITE, question), Rule(ANSWER, citing(good, PLUS)))
    body = client.get(f"/admin/conversations/{conversation_id}/suggestions", headers=admin_headers).json()
    assert body["draft"] == {"text": good[:-1] + " [1].", "kind": "generated",
                             "sources": [s for s in body["snippets"] if s["title"] == PLUS],
                             "model_id": "scripted-capable-lm"}
    assert body["rejected"] is None and body["note"] is None
