"""The reply check in the catalogue's other languages: words of any script, Chinese and Japanese as pairs of
ideographs, their full-width stops ending a sentence (dialogue/content_words.py, dialogue/sentences.py)."""

import pytest

from dialogue.content_words import content_words
from dialogue.grounding import check_reply, sentences
from dialogue.yes_no import yes_no_problem

pytestmark = pytest.mark.unit

CHINESE = ["任何 Nimbus 设备均可在交付后30天内退货，即使已经开封使用。退货标签10天内有效。",
           "配件可在14天内退货，前提是未使用且包装未拆封。"]
GERMAN = ["Sie können jedes Nimbus-Gerät innerhalb von 30 Tagen nach der Lieferung zurückgeben, auch wenn es "
          "geöffnet und benutzt wurde. Das Rücksendeetikett ist 10 Tage gültig."]


def test_words_keep_umlauts_and_read_chinese_in_pairs_of_characters():
    assert {"rücksendeetikett", "gültig"} <= content_words("Das Rücksendeetikett ist gültig.")
    assert "die" not in content_words("Die Rückgabe ist kostenlos.")  # a German stop word
    # Pairs of neighbouring ideographs, but for two stop characters (我们, 们的); a lone ideograph is itself.
    assert content_words("我们的商店周日关门") == {"的商", "商店", "店周", "周日", "日关", "关门"}
    assert {"デバイス", "返品"} <= content_words("デバイスを返品できます")  # katakana runs, kanji pairs; no hiragana
    assert {"设备", "退货", "30"} <= content_words("Nimbus 设备可在交付后30天内退货")


def test_a_full_width_stop_ends_a_sentence():
    assert sentences("您可以在30天内退货。我们免费安装所有设备！好吗？") == [
        "您可以在30天内退货。", "我们免费安装所有设备！", "好吗？"]


@pytest.mark.parametrize("reply", ["您可以在30天内退货。", "Nimbus 设备可在交付后30天内退货，即使已经开封使用。"])
def test_a_chinese_reply_from_the_snippet_passes(reply):
    assert check_reply(reply, CHINESE, "我可以退货吗？").reasons == []


@pytest.mark.parametrize("reply", [
    "我们的商店周日关门，请下周再来。",  # nothing of it in the snippets: passed before, having no [a-z] words
    "您的账户已被删除。",
    "您可以在30天内退货。我们免费为您安装所有设备。",  # one sentence supported, the next invented
    "Nimbus 设备可以在 App 中重新连到 App 中。",  # the snippets' characters recombined into nonsense
])
def test_a_chinese_reply_the_snippets_do_not_say_is_stopped(reply):
    assert check_reply(reply, CHINESE, "我可以退货吗？").reasons != []


def test_a_german_reply_is_read_word_by_word():
    # A sentence of the snippet passes; one the snippet does not say is stopped. (German nouns are capitalised,
    # which the binding of facts to names reads as names: "Sie können das Gerät innerhalb von 30 Tagen
    # zurückgeben" is stopped as a fact of another entity. Strict, not wrong; docs/languages.md.)
    assert check_reply("Das Rücksendeetikett ist 10 Tage gültig.", GERMAN, "Wie lange gilt das Etikett?").reasons == []
    assert check_reply("Die Rückgabe ist kostenlos und wird abgeholt.", GERMAN,
                       "Kann ich das Gerät zurückgeben?").reasons != []


CODES_DE = ["Wie löse ich einen Rabattcode ein?\nGeben Sie den Code auf der Kassenseite ein. Pro Bestellung kann nur "
            "ein Code verwendet werden, Codes gelten nicht für Nimbus Plus oder Geschenkkarten und können nach dem "
            "Absenden einer Bestellung nicht mehr hinzugefügt werden."]
THERMO_DE = ["Passt das Nimbus Thermo zu meiner Heizung?\nEs braucht einen C-Draht; wenn Sie keinen haben, verwenden "
             "Sie das mitgelieferte Netzteil-Kit."]


def test_german_main_clauses_joined_by_a_bare_comma_have_their_own_polarity():
    # The first statement is positive; only the one after the comma says "nicht". Read as one clause, the right
    # answer was stopped as asserting what the snippet denies.
    question = "Kann ich zwei Rabattcodes in einer Bestellung nutzen?"
    assert check_reply("Nein, pro Bestellung kann nur ein Code verwendet werden.", CODES_DE, question).reasons == []
    assert check_reply("Codes gelten für Nimbus Plus und Geschenkkarten.", CODES_DE, question).reasons != []


def test_a_condition_after_its_comma_keeps_its_negation():
    # "wenn Sie keinen haben" belongs to the clause after it: dropping "keinen" is still caught.
    question = "Was mache ich ohne C-Draht?"
    assert check_reply("Wenn Sie keinen haben, verwenden Sie das mitgelieferte Netzteil-Kit.", THERMO_DE,
                       question).reasons == []
    assert check_reply("Wenn Sie einen haben, verwenden Sie das mitgelieferte Netzteil-Kit.", THERMO_DE,
                       question).reasons != []


ACCESSORIES_ZH = ["配件怎么退货？\n数据线、支架和电池等配件可在签收后 14 天内退货，但必须未使用且保持原厂密封包装。"
                  "出于安全原因，已拆封的电池不能退货。"]


def test_a_chinese_reply_that_takes_a_denied_phrase_into_a_positive_clause_is_stopped():
    # "Opened batteries can be returned within 14 days": 已拆封的电池 only appears where the snippet says they
    # cannot be. Counted in pairs of ideographs, the positive clause it borrows "14 天内退货" from shares more.
    question = "拆封的电池可以退吗？"
    assert check_reply("可以，已拆封的电池可在签收后 14 天内退货。", ACCESSORIES_ZH, question).reasons != []
    for right in ["不可以，出于安全原因，已拆封的电池不能退货。",
                  "已拆封的电池不能退货，其他配件可在签收后 14 天内退货。",
                  "配件可在签收后 14 天内退货，但必须未使用且保持原厂密封包装。"]:
        assert check_reply(right, ACCESSORIES_ZH, question).reasons == [], right


THERMO_WIRING_DE = [
    "Passt das Nimbus Thermo zur Verkabelung meiner Heizung?\nDas Nimbus Thermo funktioniert mit den meisten "
    "24-V-Niederspannungssystemen, darunter Gas- und Ölkessel, Warmluftheizungen und Wärmepumpen mit bis zu 2 Heiz- "
    "und 1 Kühlstufe. Mit elektrischen Hochvolt-Sockelleistenheizungen (120/240 V) ist es nicht kompatibel."]


def test_a_german_no_about_a_compound_noun_agrees_with_the_snippet_that_says_no():
    # German capitalises every noun: "Sockelleistenheizung" is not a name the answer must repeat letter for
    # letter, and "Hochvolt-Sockelleistenheizungen" is the same word; the question's opening verb is no name.
    question = "Funktioniert das Thermo mit meiner 240-V-Sockelleistenheizung?"
    assert yes_no_problem("Nein, mit elektrischen Hochvolt-Sockelleistenheizungen ist das Nimbus Thermo nicht "
                          "kompatibel.", question, THERMO_WIRING_DE) is None
    assert check_reply("Ja, mit elektrischen Hochvolt-Sockelleistenheizungen ist das Nimbus Thermo kompatibel.",
                       THERMO_WIRING_DE, question).reasons != []


def test_a_german_clause_that_points_back_after_its_fact_keeps_its_subject():
    # "Mit ... (120/240 V) ist es nicht kompatibel": "es" is the Thermo, named in the sentence before; the clause
    # is not about "mit". Read as English, the 240 V fact belonged to no Thermo, and the answer that states it
    # for the Thermo was stopped as binding it to another entity.
    question = "Funktioniert das Thermo mit meiner 240-V-Sockelleistenheizung?"
    assert check_reply("Nein, mit elektrischen Hochvolt-Sockelleistenheizungen (120/240 V) ist das Nimbus Thermo "
                       "nicht kompatibel.", THERMO_WIRING_DE, question).reasons == []
    assert check_reply("Das Nimbus Thermo funktioniert mit Wärmepumpen mit bis zu 1 Heiz- und 2 Kühlstufen.",
                       THERMO_WIRING_DE, question).reasons != []


SHIPPING_DE = ["Was kostet der Versand nach Deutschland?\nDer Standardversand kostet 5,95 € (kostenlos ab 60 €) und "
               "dauert 3–6 Werktage. Der Nimbus Hub braucht ein 2,4-GHz-WLAN."]


def test_german_decimal_commas_and_currency_signs_are_read_as_whole_facts():
    # "5,95 €" was read as the numbers 5 and 95 without a currency: "5,95 $" passed.
    question = "Was kostet der Versand?"
    for right in ["Der Standardversand kostet 5,95 €.", "Ab 60 € ist der Versand kostenlos.",
                  "Der Hub braucht ein 2,4-GHz-WLAN."]:
        assert check_reply(right, SHIPPING_DE, question).reasons == [], right
    for wrong in ["Der Standardversand kostet 5,95 $.", "Ab 60 $ ist der Versand kostenlos.",
                  "Der Standardversand kostet 5,59 €."]:
        assert check_reply(wrong, SHIPPING_DE, question).reasons != [], wrong


def test_a_german_country_is_found_through_its_region():
    customs = ("Muss ich Zoll zahlen?\nNein. Wir liefern nur ins Vereinigte Königreich, in die EU und in die USA, "
               "aus einem Lager innerhalb dieser Region (Rotterdam für die EU).")
    question = "Liefert ihr nach Deutschland?"
    assert check_reply("Wir liefern nach Deutschland aus unserem Lager in Rotterdam.", [customs], question).passed
    assert check_reply("Wir liefern nach Spanien aus unserem Lager in Rotterdam.", [customs], question).passed
    check = check_reply("Wir liefern nach Japan aus unserem Lager in Rotterdam.", [customs], "Liefert ihr nach Japan?")
    assert not check.passed and "Japan" in check.reasons[0]
