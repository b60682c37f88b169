"""An FAQ's questions translated by the LM: what is translated, what of its answer is kept, when an FAQ is
translated again (training/translations.py, training/enrichment.py)."""

import json
from datetime import UTC, datetime

import pytest

from core.language_detection import shared_detector
from dialogue.verdicts import CannotAnswer
from retrieval.faqs import Faq
from training.enrichment import EnrichmentConfig, needs_enrichment, needs_translation
from training.translations import (MAX_TEXTS, in_language, parse_translations, source_texts, translation_prompt,
                                   translation_schema)

pytestmark = pytest.mark.unit

GERMAN = ["Wie kündige ich meinen Vertrag?", "Kann ich jederzeit aufhören?", "Wie beende ich mein Abo?"]


def faq(alternatives=(), generated=()) -> Faq:
    return Faq(7, "How do I cancel my contract?", "A 30-day plan can be cancelled at any time in the app.",
               list(alternatives), [], 1, datetime.now(UTC), list(generated))


def answer(*lines) -> str:
    return json.dumps({"translations": list(lines)}, ensure_ascii=False)


def test_the_question_its_alternatives_and_paraphrases_are_translated_but_not_other_translations():
    detector = shared_detector()
    entry = faq(["Can I quit whenever I want?"], ["how do i end my plan", "如何取消我的合同？", *GERMAN[:1]])
    assert source_texts(entry, detector, "de") == ["How do I cancel my contract?", "Can I quit whenever I want?",
                                                   "how do i end my plan"]
    assert in_language(entry, detector, "de") == GERMAN[:1]
    assert in_language(entry, detector, "zh") == ["如何取消我的合同？"]
    many = faq([f"Can I cancel my contract number {n} today?" for n in range(20)])
    assert len(source_texts(many, detector, "de")) == MAX_TEXTS


def test_translations_are_kept_only_in_the_language_asked_for_and_never_as_a_copy_of_the_source():
    detector = shared_detector()
    entry = faq(["Can I quit whenever I want?", "how do i end my plan"])
    texts = source_texts(entry, detector, "de")
    written = answer(GERMAN[0], "can i quit whenever i want?", "  „Wie beende ich mein Abo?“ ")
    assert parse_translations(written, texts, entry, "de", detector) == [GERMAN[0], "Wie beende ich mein Abo?"]
    # Chinese asked, English and German written: nothing is Chinese
    assert parse_translations(answer("How do I cancel?", GERMAN[1], "取消合同"), texts, entry, "zh", detector) \
        == ["取消合同"]
    # more lines than texts: the extra ones are not read
    assert parse_translations(answer(*GERMAN, "Wie kann ich kündigen?"), texts, entry, "de", detector) == GERMAN


def test_an_earlier_translation_may_come_again_as_it_is_replaced():
    detector = shared_detector()
    entry = faq(["Can I quit whenever I want?"], [GERMAN[0]])
    texts = source_texts(entry, detector, "de")
    assert parse_translations(answer(GERMAN[0], GERMAN[1]), texts, entry, "de", detector) == GERMAN[:2]


@pytest.mark.parametrize("raw", ["Wie kündige ich meinen Vertrag?", '{"translation": "x"}', '{"translations": "x"}'])
def test_output_outside_the_json_form_cannot_be_read(raw):
    entry = faq()
    with pytest.raises(CannotAnswer):
        parse_translations(raw, [entry.question], entry, "de", shared_detector())


def test_the_prompt_names_the_language_and_numbers_the_texts_and_the_schema_counts_them():
    messages = translation_prompt(["How do I cancel?", "Can I quit?"], "zh", "Nimbus")
    assert "into Simplified Chinese" in messages[-1]["content"]
    assert messages[-1]["content"].endswith("1. How do I cancel?\n2. Can I quit?")
    items = translation_schema(2)["properties"]["translations"]
    assert (items["minItems"], items["maxItems"]) == (2, 2)
    assert "into 'sv'" not in translation_prompt(["x"], "sv", "Nimbus")[-1]["content"]
    assert "into 'xh'" in translation_prompt(["x"], "xh", "Nimbus")[-1]["content"]


def test_an_faq_is_translated_again_only_when_an_admin_added_more_texts_than_were_translated():
    entry = faq(["Can I quit whenever I want?", "how do i end my plan"])
    assert needs_translation(entry, "de")
    assert not needs_translation(faq(entry.alt_questions, GERMAN[:2]), "de")
    more = [*entry.alt_questions, "Is there a fee to leave early?", "stop my contract please",
            "I want to get out of my phone contract"]
    assert needs_translation(faq(more, GERMAN[:2]), "de")
    assert not needs_translation(faq(), "en")  # nothing to translate: the FAQ is in English


def test_translations_do_not_count_as_the_paraphrases_a_plain_faq_lacks():
    config = EnrichmentConfig(min_alternatives=3, languages=("de",))
    assert needs_enrichment(faq([], GERMAN), config)
    assert not needs_enrichment(faq([], ["end my plan", "quit my contract", "stop paying"]), config)
    assert not needs_enrichment(faq([], GERMAN), EnrichmentConfig(paraphrases=0, languages=("de",)))
