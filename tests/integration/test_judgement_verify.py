"""The capable LM's "verify" step (dialogue/judgement.py `Judge.confirmed`) through the REST webhook, on both databases.

The LM is the scripted OpenAI-compatible server (tests/support/lm_server.py), reached by the product's own OpenAI
backend, which asks for the first token's `logprobs`: each test writes how sure the "LM" is that the best FAQ answers
the message, and checks what the customer gets and how many LM calls it took.
"""

import uuid

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from dialogue.judgement import VERIFY_QUESTION
from tests.conftest import chat
from dialogue.answering import Question
from dialogue.context import SearchQuery
from dialogue.policy import Decision
from tests.integration.test_judgement import (
    ANSWER, RETURNS, REWRITE, citing, judged_services, last_bot_turn, lm_server, message_in,
)
from tests.support.lm_server import Rule, ScriptedLMServer

pytestmark = pytest.mark.integration

IN_BAND = ["I'd like to send back the camera I bought", "the camera I bought is rubbish, can I send it back",
           "Can I get my cash back for the camera?", "can I send my hub back if I don't like it"]


def steps_of(steps: str, database_url, tmp_path_factory, models_dir, embedder, lm_server):
    """The sample shop's services judged with `steps`, for a module-scoped fixture."""
    services = judged_services(tmp_path_factory.mktemp(steps.replace(",", "-")), database_url, models_dir, embedder,
                               lm_server, judgement_steps=steps)
    yield services
    services.engine.dispose()


@pytest.fixture(scope="module")
def verifying(database_url, tmp_path_factory, models_dir, embedder, lm_server):
    yield from steps_of("verify,answer", database_url, tmp_path_factory, models_dir, embedder, lm_server)


@pytest.fixture()
def client(verifying):
    with TestClient(create_app(verifying.settings, verifying)) as test_client:
        yield test_client


def sure(yes: float, about: str = VERIFY_QUESTION) -> Rule:
    """The LM's yes/no to a verify prompt (to the one that holds `about`, e.g. "FAQ question: ...")."""
    return Rule(about, "yes" if yes >= 0.5 else "no", top_logprobs={"yes": yes, "no": 1 - yes})


def verify_prompts(lm_server) -> list[str]:
    """The verify prompts the LM was sent, in order."""
    return [request[-1]["content"] for request in lm_server.requests if VERIFY_QUESTION in request[-1]["content"]]


def in_generate_band(services) -> str:
    """A message chat would answer with a generated reply, its best match the returns FAQ."""
    for message in IN_BAND:
        found = services.manager.answering.search(Question(message, SearchQuery(message)), asked=False)
        if found.decision is Decision.GENERATE and found.hits[0].title == RETURNS and not found.parts:
            return message
    raise AssertionError(f"none of {IN_BAND} is in the generate band with {RETURNS!r} first")


def faq_answer(services, title: str) -> str:
    return next(f for f in services.knowledge.page(0, 100)[0] if f.question == title).answer


def sender() -> str:
    return f"verify-{uuid.uuid4().hex[:8]}"


def test_a_best_faq_the_lm_confirms_is_quoted_verbatim_after_one_call(client, verifying, lm_server):
    message = in_generate_band(verifying)
    lm_server.script(sure(0.8))
    reply = chat(client, sender(), message)
    assert reply["custom"]["kind"] == "faq", reply
    assert reply["text"] == faq_answer(verifying, RETURNS)
    assert [source["title"] for source in reply["custom"]["sources"]] == [RETURNS]
    assert len(lm_server.requests) == 1
    asked = lm_server.requests[0][-1]["content"]
    assert f"Customer message: {message}" in asked and f"FAQ question: {RETURNS}" in asked
    assert last_bot_turn(verifying, reply["custom"]["conversation_id"]).model_id == lm_server.model


def test_an_unsure_lm_leaves_the_message_to_the_next_step(client, verifying, lm_server):
    message = in_generate_band(verifying)
    answer = "You can return any Nimbus device within 30 days of delivery for any reason."
    lm_server.script(sure(0.4), Rule(ANSWER, citing(answer, RETURNS)))
    reply = chat(client, sender(), message)
    assert reply["custom"]["kind"] == "generated", reply
    assert reply["text"].startswith("You can return any Nimbus device within 30 days")
    assert len(lm_server.requests) == 2


def test_a_server_without_logprobs_is_read_from_its_one_word(client, verifying, lm_server):
    message = in_generate_band(verifying)
    lm_server.script(Rule(VERIFY_QUESTION, "Yes"))
    assert chat(client, sender(), message)["custom"]["kind"] == "faq"
    lm_server.script(Rule(VERIFY_QUESTION, "No"))  # then the answer step: no rule, so it abstains
    assert chat(client, sender(), message)["custom"]["kind"] == "fallback"
    assert len(lm_server.requests) == 2


def test_a_confident_faq_or_a_message_below_the_generate_band_is_not_verified(client, verifying, lm_server):
    lm_server.script(sure(0.9))
    assert chat(client, sender(), "How much is Nimbus Plus per month?")["custom"]["kind"] == "faq"
    assert chat(client, sender(), "Do you sell lawnmowers?")["custom"]["kind"] == "fallback"
    assert not verify_prompts(lm_server)


def test_an_lm_server_that_went_away_is_no_judgement_and_never_a_5xx(tmp_path, database_url, models_dir, embedder):
    gone = ScriptedLMServer().start()
    services = judged_services(tmp_path, database_url, models_dir, embedder, gone, judgement_steps="verify")
    gone.stop()
    try:
        with TestClient(create_app(services.settings, services)) as test_client:
            reply = chat(test_client, sender(), in_generate_band(services))
        assert reply["custom"]["kind"] == "fallback", reply  # nothing confirmed it, and no reply could be written
    finally:
        services.engine.dispose()


REFUND = "When will I receive my refund?"
REFUND_REPLY = "Card refunds then take 3-10 working days to show, depending on your bank."


@pytest.fixture(scope="module")
def verify_only(database_url, tmp_path_factory, models_dir, embedder, lm_server):
    """The default judgement: verify alone, then the usual generated reply."""
    yield from steps_of("verify", database_url, tmp_path_factory, models_dir, embedder, lm_server)


def refund_second(services) -> str:
    """A message whose search puts the returns FAQ first and the refund FAQ second, both in the generate band."""
    message = "If I return my Nimbus Cam, how long until the money is back on my card?"
    found = services.manager.answering.search(Question(message, SearchQuery(message)), asked=False)
    assert found.decision is Decision.GENERATE and [hit.title for hit in found.hits[:2]] == [RETURNS, REFUND], found
    assert found.hits[1].confidence >= found.thresholds.generate
    return message


@pytest.mark.parametrize("yes", [0.8, 0.3])
def test_a_reply_written_from_the_second_faq_quotes_it_when_the_lm_confirms_that_faq(verify_only, lm_server, yes):
    message = refund_second(verify_only)
    lm_server.script(sure(yes, f"FAQ question: {REFUND}"), sure(0.3), Rule(message, REFUND_REPLY))
    with TestClient(create_app(verify_only.settings, verify_only)) as test_client:
        reply = chat(test_client, sender(), message)
        turn = last_bot_turn(verify_only, reply["custom"]["conversation_id"])
    verified = verify_prompts(lm_server)
    assert f"FAQ question: {REFUND}" in verified[-1] and f"Customer message: {message}" in verified[-1]
    assert len(lm_server.requests) == len(verified) + 1  # one reply written, the FAQ it rests on verified after it
    if yes >= 0.6:
        assert reply["custom"]["kind"] == "faq", reply
        assert reply["text"] == faq_answer(verify_only, REFUND)
        assert [source["title"] for source in reply["custom"]["sources"]] == [REFUND]
        assert turn.model_id == lm_server.model
    else:  # not confirmed: the fallback, never the returns FAQ the LM did not write from; the reply kept for admins
        assert reply["custom"]["kind"] == "fallback", reply
        assert turn.rejected_reply["text"] == REFUND_REPLY


def test_a_reply_stopped_for_anything_else_is_not_rescued(verify_only, lm_server):
    message = refund_second(verify_only)
    lm_server.script(sure(0.9, f"FAQ question: {REFUND}"), sure(0.3),
                     Rule(message, "Card refunds then take 3-10 working days to show, or 2 days with PayPal."))
    with TestClient(create_app(verify_only.settings, verify_only)) as test_client:
        reply = chat(test_client, sender(), message)
    assert reply["custom"]["kind"] == "faq", reply  # as any stopped reply: the best FAQ, confident enough
    assert [source["title"] for source in reply["custom"]["sources"]] == [RETURNS]
    assert not any(REFUND in prompt for prompt in verify_prompts(lm_server))


def test_what_the_lm_says_about_its_snippets_is_taken_out_and_the_rest_checked(verify_only, lm_server):
    message = in_generate_band(verify_only)
    said = ("According to the knowledge snippet [1], you can return any Nimbus device within 30 days of delivery. "
            "This is specified in the knowledge snippet [1].")
    lm_server.script(sure(0.3), Rule(message, said))
    with TestClient(create_app(verify_only.settings, verify_only)) as test_client:
        reply = chat(test_client, sender(), message)
        assert reply["custom"]["kind"] == "generated", reply
        assert reply["text"] == "You can return any Nimbus device within 30 days of delivery [1]."
        lm_server.script(sure(0.3), Rule(message, "According to the snippet, you can return it within 60 days."))
        assert chat(test_client, sender(), message)["custom"]["kind"] != "generated"  # the rest is still checked


def test_a_written_reply_that_only_says_it_cannot_answer_gets_the_fallback(verify_only, lm_server):
    message = in_generate_band(verify_only)
    lm_server.script(sure(0.3), Rule(message, "I do not know."))
    with TestClient(create_app(verify_only.settings, verify_only)) as test_client:
        reply = chat(test_client, sender(), message)
        turn = last_bot_turn(verify_only, reply["custom"]["conversation_id"])
    assert reply["custom"]["kind"] == "fallback", reply  # which offers the FAQs that came close and a person
    assert reply["text"] != "I do not know."
    assert turn.rejected_reply == {"text": "I do not know.",
                                   "reasons": ["only says it cannot answer: the fallback offers FAQs and a person"]}


@pytest.fixture(scope="module")
def rewriting(database_url, tmp_path_factory, models_dir, embedder, lm_server):
    yield from steps_of("verify,rewrite", database_url, tmp_path_factory, models_dir, embedder, lm_server)


@pytest.mark.parametrize("yes, kind", [(0.8, "faq"), (0.3, "fallback")])
def test_the_faq_a_rewrite_finds_is_quoted_only_when_the_lm_confirms_it_for_the_customers_words(
        rewriting, lm_server, yes, kind):
    thresholds = rewriting.manager.thresholds()
    message = message_in(rewriting, ["Can I get my money back for my hub?", "Can I get my cash back for the camera?"],
                         thresholds.generate - 0.15, thresholds.generate)
    lm_server.script(Rule(REWRITE, RETURNS), sure(yes))
    with TestClient(create_app(rewriting.settings, rewriting)) as test_client:
        reply = chat(test_client, sender(), message)
    assert reply["custom"]["kind"] == kind, reply
    verified = verify_prompts(lm_server)
    assert len(verified) == 1 and f"Customer message: {message}" in verified[0] and RETURNS in verified[0]


def test_health_says_a_capable_lm_judges_and_with_which_steps(client):
    assert client.get("/health").json()["judgement"] == {"active": True, "mode": "auto", "steps": ["answer", "verify"],
                                                         "verify_threshold": 0.6}
