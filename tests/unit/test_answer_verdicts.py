"""How a reply the customer got is scored: right, a wrong answer sent, or neither (training/conversation_eval.py)."""

import pytest

from dialogue.messages import Reply, ReplyKind, Source
from training.conversation_eval import verdict
from training.end_to_end import AnswerScores
from training.quality import DatasetReport, DecisionScores, QualityReport, markdown
from retrieval.retrieval_report import ModeScores, RetrievalReport
from retrieval.entries import HitKind

pytestmark = pytest.mark.unit


def reply(kind: ReplyKind, *faqs: int, text: str = "Plus is £14 a month.") -> Reply:
    sources = [Source(faq, f"FAQ {faq}", kind=HitKind.FAQ if kind is ReplyKind.GENERATED else None) for faq in faqs]
    return Reply(text, kind, 1, sources)


def test_an_answer_from_the_wrong_faq_is_a_wrong_answer_sent():
    assert verdict(frozenset({3}), reply(ReplyKind.FAQ, 3)) == "right"
    assert verdict(frozenset({3}), reply(ReplyKind.FAQ, 5)) == "wrong"
    assert verdict(frozenset({3}), reply(ReplyKind.GENERATED, 5, 3)) == "right"  # the FAQ is among its snippets
    assert verdict(frozenset({3}), reply(ReplyKind.GENERATED, 5, 7)) == "wrong"


def test_any_answer_to_a_question_nothing_answers_is_wrong_and_a_fallback_never_is():
    assert verdict(frozenset(), reply(ReplyKind.FAQ, 5)) == "wrong"
    assert verdict(frozenset(), reply(ReplyKind.GENERATED, 5)) == "wrong"
    assert verdict(frozenset(), Reply("Sorry, I don't know.", ReplyKind.FALLBACK, 1)) == "none"
    assert verdict(frozenset({3}), Reply("Sorry, I don't know.", ReplyKind.FALLBACK, 1)) == "none"
    assert verdict(frozenset({3}), None) == "none"  # waiting for a person


def test_a_partial_answer_and_a_generated_refusal_are_neither_right_nor_wrong():
    assert verdict(frozenset({3, 4}), reply(ReplyKind.FAQ, 3)) == "none"
    assert verdict(frozenset({3, 4}), reply(ReplyKind.GENERATED, 3, 4)) == "right"
    refusal = reply(ReplyKind.GENERATED, 5, text="I'm sorry, I don't have that information.")
    assert verdict(frozenset(), refusal) == "none"


def test_the_report_shows_wrong_answers_per_100_beside_answered_correctly_and_per_reply_model():
    retrieval = RetrievalReport("kb", 10, 4, "all-MiniLM-L6-v2", {"lexical_weight": 0.2},
                                [ModeScores(m, 0.5, 0.9, 0.6, 1.0) for m in ("dense", "lexical", "rrf", "hybrid")], 1.0)
    decisions = DecisionScores(10, 0.8, 0.2, 1.0, wrong_per_100=12.5, wrong_verbatim_per_100=2.5, asked=16)
    answers = AnswerScores("Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf", 16, 10, 0.7, 6.25, 0.25, {"faq": 4},
                           850.0, 4200.0, 3900.0, {"sent_as_generated": 7, "rejected": 2},
                           [{"query": "q", "group": "out_of_scope", "kind": "generated", "text": "t"}],
                           suggested_right=0.2)
    report = QualityReport([DatasetReport("kb", "eval.yaml", "all-MiniLM-L6-v2", {"faq": 1.5, "generate": 0.7,
                                          "source": "calibrated"}, None, retrieval, decisions, 1.0, answers=answers)])
    table = markdown(report)
    assert "| 0.800 | 12.5 (2.5) |" in table
    assert "| kb | Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf | all-MiniLM-L6-v2 | 16 | 0.700 | 6.2 | 0.250 | " \
           "0.200 | 850 / 4200 | 3900 | 7 / 2 |" in table
    assert "Wrong answers sent on kb (eval.yaml, Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf):" in table


def test_a_conversation_turn_answered_with_a_generated_refusal_is_not_answered_correctly():
    from training.conversation_eval import Turn, conversation_scores

    fallback = ("I'm sorry, I can't help with that: it isn't covered by what I know. Would you like me to connect "
                'you with a person from our support team? Just say "talk to a person".')
    turns = [(Turn("My bill went up this month", frozenset({"Why is my bill higher?"})),
              reply(ReplyKind.GENERATED, 3, text=fallback)),
             (Turn("Is that the yearly price rise?", frozenset({"Why is my bill higher?"})), reply(ReplyKind.FAQ, 3))]
    scores = conversation_scores([turns], {"Why is my bill higher?": 3})
    assert scores["answered_correctly"] == 0.5 and scores["wrong_per_100"] == 0.0
    assert [wrong["query"] for wrong in scores["wrong_turns"]] == ["My bill went up this month"]
