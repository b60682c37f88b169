"""BM25 per language: each entry stemmed in its own language, and counted only for questions in it."""

import pytest

from retrieval.entries import chunk_entry, faq_entry
from retrieval.lexical import LexicalIndex

pytestmark = pytest.mark.unit

RETURNS_DE = faq_entry(1)
SHIPPING_DE = faq_entry(2)
RETURNS_EN = faq_entry(3)
ORDER_ZH = faq_entry(4)


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    index = LexicalIndex()
    index.upsert_many([
        (RETURNS_DE, ["Kann ich ein geöffnetes Gerät zurückgeben?", "Rücksendung eines benutzten Geräts"]),
        (SHIPPING_DE, ["Wie lange dauert der Versand nach Österreich?", "Lieferzeit für Bestellungen"]),
        (RETURNS_EN, ["How do I return a Nimbus Plus device?", "Can I send back an opened product?"]),
        (ORDER_ZH, ["我的订单在哪里？", "怎么查询订单状态"]),
    ])
    return index


def found(index: LexicalIndex, text: str, **options) -> list[int]:
    return [match.entry for match in index.search(text, 5, **options)]


def test_each_entry_is_read_as_its_own_language(index):
    assert [index.language_of(entry) for entry in (RETURNS_DE, SHIPPING_DE, RETURNS_EN, ORDER_ZH)] == [
        "de", "de", "en", "zh"]


def test_german_inflections_meet_through_the_german_stemmer(index):
    # "Geräte"/"Gerät" and "Versands"/"Versand": the English stemmer kept each pair apart.
    assert found(index, "Welche Geräte kann ich zurückgeben?")[0] == RETURNS_DE
    assert found(index, "Kosten des Versands") == [SHIPPING_DE]


def test_a_sure_question_is_not_matched_against_another_languages_entries(index):
    # The German question shares "Nimbus Plus" with the English FAQ only: no BM25 evidence across languages.
    assert found(index, "Kann ich mein Nimbus Plus Gerät zurückgeben?") == [RETURNS_DE]
    assert found(index, "How do I send back my Nimbus Plus device?") == [RETURNS_EN]


def test_an_unclear_question_and_codes_match_every_language(index):
    assert found(index, "Nimbus Plus") == [RETURNS_EN]  # two words: the detector is not sure of them
    index.upsert_many([(chunk_entry(7), ["Seriennummer SRK-7731: Austausch nur mit Beleg."])])
    try:
        # How hybrid search looks up a question's codes (search_index._entries_with_codes): in any language.
        assert found(index, "SRK 7731", all_words=True) == [chunk_entry(7)]
    finally:
        index.remove_many([chunk_entry(7)])
    assert index.language_of(chunk_entry(7)) is None


def test_chinese_and_japanese_share_their_ideographs(index):
    assert found(index, "我的订单状态") == [ORDER_ZH]
    assert found(index, "注文の状態を確認したいです、订单") == [ORDER_ZH]  # kana: sure it is Japanese


def test_languages_the_detector_confuses_still_match():
    # The lite model reads the entry as Norwegian and the question, sure, as Danish (0.88): kin, so still matched.
    index = LexicalIndex()
    norwegian = faq_entry(9)
    index.upsert_many([(norwegian, ["Kan jeg returnere en enhet jeg har åpnet?", "Retur av en brukt enhet"])])
    assert index.language_of(norwegian) == "no"
    assert found(index, "Hvordan kan jeg returnere enheten?") == [norwegian]


def test_a_text_in_another_language_than_its_entry_is_stemmed_and_counted_as_its_own():
    # An English FAQ with a German alternative question its admin added.
    index = LexicalIndex()
    returns, warranty = faq_entry(11), faq_entry(12)
    index.upsert_many([
        (returns, ["How can I return a device I bought?", "Can I send back an opened product for a refund?",
                   "Kann ich meine Nimbus Kamera oder ein Gerät zurückgeben?"]),
        (warranty, ["How long is the Nimbus warranty?", "Which faults are covered by the warranty?"]),
    ])
    assert index.language_of(returns) == "en"
    assert not index.mixed()  # the entries are English; one text is German
    # "Geräte" meets "Gerät" through the German stemmer, though the entry is English.
    assert found(index, "Welche Geräte kann man zurückgeben?") == [returns]
    # A sure German question is matched against German texts only ("Nimbus" is in the English warranty FAQ too),
    # a sure English one against English texts only ("Nimbus" is in the German text).
    assert found(index, "Wie lange gilt die Nimbus Garantie für ein Gerät?") == [returns]
    assert found(index, "My Nimbus broke yesterday evening, any ideas what to do?") == [warranty]
    index.upsert_many([(returns, ["How can I return a device I bought?", "Can I send back an opened product?"])])
    assert found(index, "Welche Geräte kann man zurückgeben?") == []  # the German text is gone, and its field


def test_in_a_knowledge_base_of_two_languages_an_entry_with_texts_in_the_questions_language_is_its_own():
    index = LexicalIndex()
    english, german, enriched = faq_entry(21), faq_entry(22), faq_entry(23)
    index.upsert_many([
        (english, ["How do I reset my password?", "I forgot my password"]),
        (german, ["Wie lange dauert der Versand nach Österreich?", "Lieferzeit für Bestellungen nach Wien"]),
        (enriched, ["How do I return a device?", "What is your return policy?", "Can I send back a product?",
                    "Wie kann ich ein Gerät zurückschicken?"]),
    ])
    assert index.mixed()
    assert index.same_language("Wie lange dauert die Lieferung nach Österreich?") == {german, enriched}
    assert index.same_language("How long does delivery to Austria take, please?") == {english, enriched}


def test_an_faqs_translations_do_not_decide_its_language_even_where_they_outnumber_its_own_texts():
    """A plain question with translations into two languages (training/translations.py, stored after the FAQ's own
    texts) was read from all texts together: Chinese."""
    index = LexicalIndex()
    plain, twinned, german = faq_entry(31), faq_entry(32), faq_entry(33)
    index.upsert_many([
        (plain, ["Is there a student discount?", "Gibt es einen Rabatt für Studenten?", "学生有折扣吗？"]),
        (twinned, ["How do I return a device?", "Wie kann ich ein Gerät zurückgeben?"]),
        (german, ["Wie kann ich ein Gerät zurückgeben?", "Gerät zurückschicken", "How do I return a device?"]),
    ])
    assert [index.language_of(entry) for entry in (plain, twinned, german)] == ["en", "en", "de"]
    assert index.language_counts() == {"en": 2, "de": 1}
