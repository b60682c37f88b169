"""Reading a yes/no judgement from an LM's next-token probabilities (dialogue/lm/choices.py) and what the judge asks
(dialogue/judgement.py `Judge.answers_probability`)."""

import math

import pytest

from dialogue.answering import Question
from dialogue.context import SearchQuery
from dialogue.judgement import VERIFY_QUESTION, Judge, JudgementConfig
from dialogue.lm.choices import choice_probabilities, choice_tokens, from_logprobs
from dialogue.messages import TurnRole

pytestmark = pytest.mark.unit

# A toy vocabulary: "yes", "Yes", " yes" are three tokens; " " alone is one; "YES" begins with "Y", which no other
# variant shares.
VOCAB = {"yes": 1, "Yes": 2, " yes": 3, "no": 4, "No": 5, " no": 6, " ": 7, "Y": 8, "ES": 9, "NO": 10, " No": 11,
         " Yes": 12}


def tokenize(text: str) -> list[int]:
    if text in VOCAB:
        return [VOCAB[text]]
    if text == "YES":
        return [VOCAB["Y"], VOCAB["ES"]]
    return [VOCAB[" "], *tokenize(text[1:])] if text.startswith(" ") else []


def decode(token: int) -> str:
    return next(text for text, number in VOCAB.items() if number == token)


def test_each_word_is_every_token_that_begins_it():
    tokens = choice_tokens(("yes", "no"), tokenize, decode)
    assert tokens == {"yes": frozenset({1, 2, 3, 8, 12}), "no": frozenset({4, 5, 6, 10, 11})}


def test_a_token_two_words_share_tells_nothing():
    tokens = choice_tokens(("yes", "yeah"), lambda text: [VOCAB["Y"]] if text.lower().startswith("ye") else [],
                           decode)
    assert tokens == {"yes": frozenset(), "yeah": frozenset()}


def test_probabilities_sum_each_words_tokens_and_normalise_over_the_words():
    logits = {1: math.log(0.3), 2: math.log(0.3), 4: math.log(0.2), 99: 50.0}  # 99: any other token
    probabilities = choice_probabilities(logits.__getitem__, {"yes": frozenset({1, 2}), "no": frozenset({4})})
    assert probabilities["yes"] == pytest.approx(0.75) and probabilities["no"] == pytest.approx(0.25)


def test_huge_logits_do_not_overflow():
    probabilities = choice_probabilities({1: 1000.0, 2: 990.0}.__getitem__,
                                         {"yes": frozenset({1}), "no": frozenset({2})})
    assert probabilities["yes"] == pytest.approx(1 / (1 + math.exp(-10)))


def test_a_servers_top_logprobs_are_read_by_word():
    top = [{"token": "Yes", "logprob": math.log(0.5)}, {"token": " yes", "logprob": math.log(0.1)},
           {"token": "No", "logprob": math.log(0.2)}, {"token": "Maybe", "logprob": math.log(0.2)}]
    assert from_logprobs(top, ("yes", "no")) == pytest.approx({"yes": 0.75, "no": 0.25})
    assert from_logprobs([{"token": "Maybe", "logprob": -0.1}], ("yes", "no")) is None


class Recording:
    model_id = "capable"

    def __init__(self, yes: float):
        self.yes, self.asked = yes, []

    def choice_probabilities(self, messages, choices):
        self.asked.append(messages)
        return {"yes": self.yes, "no": 1 - self.yes}


class Hit:
    class faq:  # noqa: N801 (a stand-in for retrieval's Faq)
        id, question, answer = 7, "How do I return a device?", "Within 30 days of delivery."


HISTORY = [(TurnRole.USER, "I'd like to send back the camera"), (TurnRole.BOT, "You can return it within 30 days."),
           (TurnRole.USER, "it's the white one")]


def test_the_judge_asks_about_a_follow_up_with_the_customers_earlier_messages_only():
    generator = Recording(0.7)
    judge = Judge(generator, JudgementConfig(mode="on"), "Nimbus")
    follow_up = SearchQuery("and how long do I have?", context="it's the white one")
    assert judge.answers_probability(Question("and how long do I have?", follow_up, HISTORY), Hit()) == 0.7
    asked = generator.asked[0][-1]["content"]
    assert asked == ("Earlier message: I'd like to send back the camera\nEarlier message: it's the white one\n"
                     "Customer message: and how long do I have?\n\nFAQ question: How do I return a device?\n"
                     f"FAQ answer: Within 30 days of delivery.\n\n{VERIFY_QUESTION}")
    assert "You can return it" not in asked


def test_a_message_searched_alone_is_judged_alone():
    # After messages on other topics, the earlier messages halved Qwen2.5-Coder-1.5B's yes to the right FAQ.
    generator = Recording(0.7)
    judge = Judge(generator, JudgementConfig(mode="on"), "Nimbus")
    alone = "How long do I have to return a device?"
    judge.answers_probability(Question(alone, SearchQuery(alone), HISTORY), Hit())
    assert generator.asked[0][-1]["content"].startswith(f"Customer message: {alone}\n")


def test_a_generator_without_probabilities_gives_no_judgement():
    class Plain:
        model_id = "capable"

    judge = Judge(Plain(), JudgementConfig(mode="on"), "Nimbus")
    assert judge.answers_probability(Question("hi", SearchQuery("hi")), Hit()) is None
