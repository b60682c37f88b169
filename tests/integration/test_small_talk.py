"""Small talk: answered by the bot itself, and "yes" to the fallback's offer of a person hands over."""

import time

import pytest

from dialogue.actions.forms import affirms, denies
from dialogue.records import ConversationRecord
from dialogue.small_talk import SmallTalk, says_yes, small_talk
from tests.conftest import chat


@pytest.mark.unit
@pytest.mark.parametrize(("message", "kind"), [
    ("hi", SmallTalk.GREETING), ("Good morning!", SmallTalk.GREETING), ("hey there :)", SmallTalk.GREETING),
    ("thanks!", SmallTalk.THANKS), ("Thank you so much!!", SmallTalk.THANKS), ("ok thanks", SmallTalk.THANKS),
    ("great, thank you for your help 👍", SmallTalk.THANKS), ("cheers", SmallTalk.THANKS),
    ("bye", SmallTalk.GOODBYE), ("thanks, bye!", SmallTalk.GOODBYE), ("no that's all, thanks", SmallTalk.GOODBYE),
    ("have a nice day", SmallTalk.GOODBYE),
    ("are you a bot?", SmallTalk.BOT_CHALLENGE), ("Am I talking to a real person?", SmallTalk.BOT_CHALLENGE),
    ("yes", SmallTalk.YES), ("yes please", SmallTalk.YES), ("Sure!", SmallTalk.YES), ("yep, thanks", SmallTalk.YES),
    ("no", SmallTalk.NO), ("no thanks", SmallTalk.NO), ("not now.", SmallTalk.NO),
    ("ok", SmallTalk.ACKNOWLEDGED), ("got it", SmallTalk.ACKNOWLEDGED), ("perfect!", SmallTalk.ACKNOWLEDGED),
])
def test_small_talk_is_recognised(message, kind):
    assert small_talk(message) is kind


@pytest.mark.unit
@pytest.mark.parametrize("message", [
    "thanks, and how do I return a cam?", "hello, my order is late", "yes how do I return it", "no refund yet",
    "thanks but it did not help", "Is the hub necessary?", "Are you open on Sundays?", "bye bye " + "x" * 80,
])
def test_questions_are_not_small_talk(message):
    assert small_talk(message) is None


@pytest.mark.unit
def test_long_runs_of_small_words_do_not_backtrack_for_ever():
    # "kkk…x" once took exponential time (optional separators between repeated words): 28 characters 0.6 s
    started = time.perf_counter()
    assert small_talk("k" * 79 + "x") is None and small_talk("ok " * 26 + "x") is None
    assert time.perf_counter() - started < 1.0


@pytest.mark.unit
def test_forms_share_the_same_yes_and_no():
    assert all(affirms(m) for m in ("yes", "ok", "okay thanks", "y", "/affirm", "continue", "yes please"))
    assert all(denies(m) for m in ("no", "n", "nope", "not now", "/deny"))
    assert not affirms("maybe") and not denies("maybe")
    assert all(says_yes(m) for m in ("ok", "fine, thanks", "sure", "yes please"))
    assert not any(says_yes(m) for m in ("got it", "no", "thanks"))



@pytest.mark.integration
@pytest.mark.parametrize("message", ["thanks!", "thank you so much", "bye", "are you a bot?", "ok",
                                     "are you a real person?"])
def test_small_talk_gets_a_reply_not_the_fallback(client, services, sender, message):
    chat(client, sender, "What is the return policy for devices?")
    calls_before = services.generator.calls
    reply = chat(client, sender, message)
    assert reply["custom"]["kind"] == "action"
    assert "can't help" not in reply["text"]
    assert services.generator.calls == calls_before
    if message.startswith("are you"):  # a question about the bot, not a request for a person
        assert "not a person" in reply["text"] and "talk to a person" in reply["text"]


@pytest.mark.integration
@pytest.mark.parametrize("answer", ["yes", "yes please", "ok"])
def test_yes_to_the_fallbacks_offer_hands_over(client, services, sender, answer):
    assert chat(client, sender, "Give me a recipe for vegetarian lasagne")["custom"]["kind"] == "fallback"
    reply = chat(client, sender, answer)
    assert reply["custom"]["kind"] == "handoff"
    with services.sessions() as session:
        assert session.get(ConversationRecord, reply["custom"]["conversation_id"]).status == "handoff"


@pytest.mark.integration
def test_no_to_the_offer_and_yes_without_one_do_not_hand_over(client, services, sender):
    chat(client, sender, "Give me a recipe for vegetarian lasagne")
    declined = chat(client, sender, "no thanks")
    assert declined["custom"]["kind"] == "action" and "anything else" in declined["text"]
    assert chat(client, sender, "What is the return policy for devices?")["custom"]["kind"] == "faq"
    unprompted = chat(client, sender, "yes")  # the last reply offered nothing
    assert unprompted["custom"]["kind"] == "action"
    with services.sessions() as session:
        assert session.get(ConversationRecord, unprompted["custom"]["conversation_id"]).status == "bot"
