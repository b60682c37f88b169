import pytest

from dialogue.answering import confirms_blend
from dialogue.context import contextualize, is_follow_up
from dialogue.lm.generator import tidy
from dialogue.policy import Decision, Thresholds, decide, wants_person
from dialogue.prompt import HistoryTurn, build_prompt, recent_within
from retrieval.faqs import Faq
from retrieval.hits import Hit

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("message", "expected"),
    [("And for accessories?", True), ("How do I activate it?", True), ("What about to the US?", True),
     ("How do I reset my Nimbus app password?", False),
     ("Could you tell me whether it is possible to change the delivery address after ordering?", False)],
)
def test_detects_follow_ups(message, expected):
    assert is_follow_up(message) is expected


def test_follow_up_takes_the_previous_query_as_context():
    query = contextualize("And for accessories?", ["hi", "How do I return a device?"])
    assert (query.text, query.context) == ("How do I return accessories?", None)
    pointing = contextualize("How do I activate it?", ["hi", "I bought a Nimbus Hub"])
    assert (pointing.text, pointing.context) == ("How do I activate it?", "I bought a Nimbus Hub")
    assert pointing.rewritten == "I bought a Nimbus Hub How do I activate it?"
    assert contextualize("And for accessories?", []).context is None
    rewritten = contextualize("And for accessories?", ["What is the return policy for devices?"])
    assert (rewritten.text, rewritten.context) == ("What is the return policy for accessories?", None)
    assert contextualize("and in the EU?",
                         ["How much is shipping in the UK?"]).text == "How much is shipping in the EU?"
    assert contextualize("What about the Cam?", ["How do I set up my Hub?"]).context == "How do I set up my Hub?"
    assert contextualize("How do I reset my password?", ["How do I return a device?"]).context is None


def test_a_message_not_read_as_a_follow_up_keeps_the_previous_query_at_hand():
    query = contextualize("the link never arrived", ["I forgot my password"])
    assert (query.text, query.context, query.previous) == ("the link never arrived", None, "I forgot my password")
    assert query.rewritten == "the link never arrived"
    assert contextualize("the link never arrived", []).previous is None


@pytest.mark.parametrize(("message", "expected"), [
    ("und was kostet das?", True), ("was bekomme ich dafür?", True), ("Ist das auch von der Garantie abgedeckt?", True),
    ("Et pour les accessoires ?", True), ("¿Y eso cuánto cuesta?", True),
    ("那运费多少？", True), ("那礼品卡呢？", True), ("好的，以后怎么停掉它？", True), ("それはいくらですか？", True),
    # "gibt es" is "is there", "das" before a noun is an article, "Sie" is "you", 这个 before a noun is "this"
    ("Gibt es Rabatt für Studierende?", False), ("Funktioniert das Thermostat mit meinem Heizkessel?", False),
    ("Können Sie mir helfen?", False), ("这个温控器能配我的锅炉吗？", False),
    ("我想把买的摄像头退回去，然后再买一个新的白色的摄像头和两个配件", False),  # a whole question, however it opens
])
def test_follow_ups_are_read_in_every_catalogue_language(message, expected):
    assert is_follow_up(message) is expected


def test_a_blend_counts_only_when_it_lifts_the_entry_clearly_into_the_band():
    thresholds = Thresholds(faq=1.30, generate=0.90)  # a band 0.40 wide: the lift must be 0.08 or more
    assert confirms_blend(_hit(0.95), _hit(0.86), thresholds)
    assert not confirms_blend(_hit(0.91), _hit(0.89), thresholds)  # any in-domain question lifts a little
    assert not confirms_blend(_hit(0.85), _hit(0.40), thresholds)  # lifted, but not into the band


def test_an_elliptical_follow_up_swaps_the_phrase_of_its_own_preposition():
    previous = "What does roaming cost in the EU on the Lite plan?"
    swapped = contextualize("What about in the USA?", [previous]).text
    assert swapped == "What does roaming cost in the USA on the Lite plan?"
    assert contextualize("And on Unlimited?", [previous]).text == "What does roaming cost in the EU on Unlimited?"


def _hit(score: float, question: str = "Q?") -> Hit:
    return Hit(Faq(1, question, "A.", [], [], 1, None), score, question, confidence=score)


def test_decision_follows_the_thresholds():
    thresholds = Thresholds(faq=0.8, generate=0.5)
    assert decide([], thresholds) is Decision.FALLBACK
    assert decide([_hit(0.49)], thresholds) is Decision.FALLBACK
    assert decide([_hit(0.5)], thresholds) is Decision.GENERATE
    assert decide([_hit(0.8)], thresholds) is Decision.FAQ


@pytest.mark.parametrize("text", ["Can I talk to a human?", "I want an agent please", "speak to someone",
                                  "let me chat with a person", "REPRESENTATIVE"])
def test_recognises_requests_for_a_person(text):
    assert wants_person(text)


@pytest.mark.parametrize("text", ["How do I reset my hub?", "Does the camera detect people?"])
def test_ordinary_questions_are_not_handoffs(text):
    assert not wants_person(text)


def test_history_is_cut_to_the_token_budget_newest_first():
    history = [HistoryTurn("user", "one two three"), HistoryTurn("assistant", "four five"),
               HistoryTurn("user", "six")]
    count = lambda text: len(text.split())  # noqa: E731
    assert recent_within(history, count, 3) == history[1:]
    assert recent_within(history, count, 0) == []


def test_prompt_holds_instructions_profile_snippets_history_and_message():
    messages = build_prompt(
        company="Nimbus Home", message="And for accessories?",
        snippets=[_hit(0.7, "How do I return an accessory?")], profile_facts=["Name: Ann"],
        history=[HistoryTurn("user", "How do I return a device?"), HistoryTurn("assistant", "Within 30 days.")],
        count_tokens=lambda text: len(text.split()), history_token_budget=100,
    )
    system = messages[0]["content"]
    assert "Nimbus Home" in system and "Name: Ann" in system
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    last = messages[-1]["content"]
    assert "[1] How do I return an accessory?\nA." in last
    assert last.endswith("Customer question: And for accessories?")


def test_tidy_drops_an_unfinished_last_sentence_only_when_cut_off():
    assert tidy("Returns are free. You can also", cut_unfinished=True) == "Returns are free."
    assert tidy("Returns are free. You can also", cut_unfinished=False) == "Returns are free. You can also"
    assert tidy("no sentence end", cut_unfinished=True) == "no sentence end"


def test_generated_sentences_are_marked_with_the_snippet_that_supports_them():
    from dialogue.grounding import mark_citations

    snippets = ["How do I return an accessory?\nAccessories can be returned within 14 days if unused and sealed.",
                "When will I receive my refund?\nRefunds reach your card within 5 business days."]
    reply = ("You can return accessories within 14 days if they are unused and sealed. "
             "Refunds reach your card within 5 business days. Returns cost £2.")
    assert mark_citations(reply, snippets) == (
        "You can return accessories within 14 days if they are unused and sealed [1]. "
        "Refunds reach your card within 5 business days [2]. Returns cost £2.")  # an invented price: unmarked
    assert mark_citations("Sealed ones only [2]. I don't know.", snippets) == "Sealed ones only [2]. I don't know."
