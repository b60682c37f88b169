"""What an LM writes when asked for paraphrases, read as questions (training/enrichment.py)."""

from datetime import UTC, datetime

import pytest

from retrieval.faqs import Faq, make_draft
from training.enrichment import EnrichmentConfig, needs_enrichment
from training.paraphrases import paraphrase_prompt, parse_paraphrases

pytestmark = pytest.mark.unit


def faq(alternatives=(), generated=()) -> Faq:
    return Faq(7, "How do I cancel my contract?", "A 30-day plan can be cancelled at any time in the app.",
               list(alternatives), [], 1, datetime.now(UTC), list(generated))


def test_numbering_bullets_quotes_and_preambles_are_dropped_and_known_texts_are_not_repeated():
    written = ('Here are 5 ways customers might ask:\n'
               '1. "I want to end my plan, how?"\n'
               '2) Is there a fee to leave early?\n'
               '- how do i cancel my contract?\n'  # the question itself, in other case
               '* Can I stop my subscription in the app\n'
               '\n'
               'Q3: cancel\n'  # one word: too short to be a question
               '4. Is there a fee to leave early?\n'  # a repeat
               "I'm sorry, but as a text-based AI I am unable to provide messages.\n"
               "5. I can't find where to cancel in the app\n")  # a customer's "I can't" is kept
    assert parse_paraphrases(written, faq(), 5) == [
        "I want to end my plan, how?", "Is there a fee to leave early?", "Can I stop my subscription in the app",
        "I can't find where to cancel in the app"]
    assert parse_paraphrases(written, faq(generated=["Is there a fee to leave early?"]), 1) == [
        "I want to end my plan, how?"]


def test_only_faqs_with_few_alternatives_need_enrichment_and_the_prompt_carries_the_answer():
    config = EnrichmentConfig(min_alternatives=3)
    assert needs_enrichment(faq(), config)
    assert needs_enrichment(faq(["end my plan"], ["leave early?"]), config)
    assert not needs_enrichment(faq(["end my plan", "quit"], ["leave early?"]), config)
    prompt = paraphrase_prompt(faq(), 4, "Brightwave")
    assert "Brightwave" in prompt[0]["content"] and "Write 4 different" in prompt[1]["content"]
    assert "cancelled at any time in the app" in prompt[1]["content"]


def test_generated_questions_never_repeat_the_admins_and_change_the_content_hash_only_when_present():
    plain = make_draft("How do I cancel?", "In the app.", ["End my plan"])
    assert plain.content_hash == make_draft("How do I cancel?", "In the app.", ["End my plan"], [], []).content_hash
    enriched = plain.with_generated(["end my plan", "Is there a fee to leave early?", " "])
    assert enriched.generated_questions == ["Is there a fee to leave early?"]
    assert enriched.searchable_texts == ["How do I cancel?", "End my plan", "Is there a fee to leave early?"]
    assert enriched.content_hash != plain.content_hash


def test_chinese_lines_count_their_characters_as_words():
    # One \w+ run each: every line Qwen2.5-Coder-1.5B wrote in Chinese was "one word", and dropped.
    written = "1. 我想知道如何取消合同。\n2. 取消\n3. 我想取消合同，需要付违约金吗？"
    assert parse_paraphrases(written, faq(), 5) == ["我想知道如何取消合同。", "我想取消合同，需要付违约金吗？"]
