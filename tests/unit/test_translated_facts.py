"""Does a translation state the checked answer's facts (dialogue/translated_facts.py)?"""

from pathlib import Path

import pytest
import yaml

from dialogue.translated_facts import as_read, difference

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "sample"
CHECKED = "You can return any Nimbus device within 30 days of delivery. The label is valid for 10 days."
SNIPPET = ("How do I return a device?\nYou can return any Nimbus device (Hub, Cam, Thermo or Plug) within 30 days "
           "of delivery. Start at https://help.nimbushome.example/returns. The label is valid for 10 days.")
# Where the sample shop's own translators wrote a fact another way: a German article for "one month" (an article
# is not read as a count: "an einem Werktag" is "on a working day"), "9 折" (a Chinese price tag's "90%") for
# "10% off", "85 折" for "15% off". Refused, never misread.
WRITTEN_OTHERWISE = {("de", "How do I download a copy of my personal data?"), ("zh", "What's included in Nimbus Plus?"),
                     ("zh", "Do you offer a student discount?"),
                     ("zh", "Do you offer business or bulk orders?")}


@pytest.mark.parametrize("language", ["de", "zh"])
def test_the_sample_shops_translations_state_the_english_facts(language):
    english = yaml.safe_load((SAMPLE / "faqs.yaml").read_text(encoding="utf-8"))
    translated = yaml.safe_load((SAMPLE / f"faqs.{language}.yaml").read_text(encoding="utf-8"))
    differing = {(language, faq["question"]) for faq, other in zip(english, translated, strict=True)
                 if difference(faq["answer"], other["answer"], f"{faq['question']}\n{faq['answer']}",
                               translated_in=language)}
    assert differing == {pair for pair in WRITTEN_OTHERWISE if pair[0] == language}


@pytest.mark.parametrize("translation, language", [
    ("Sie können jedes Nimbus-Gerät innerhalb von 30 Tagen nach der Lieferung zurückgeben. Das Etikett gilt "
     "10 Tage.", "de"),
    ("Vous pouvez retourner tout appareil Nimbus dans les 30 jours suivant la livraison. L'étiquette est valable "
     "10 jours.", "fr"),
    ("Puede devolver cualquier dispositivo Nimbus en un plazo de 30 días. La etiqueta es válida durante 10 días.",
     "es"),
    ("您可以在签收后30天内退回任何 Nimbus 设备。退货标签有效期为 10 天。", "zh"),
    ("Nimbus のデバイスは、お届けから30日以内であれば返品できます。ラベルの有効期限は10日間です。", "ja"),
])
def test_a_faithful_translation_states_the_same_facts(translation, language):
    assert not difference(CHECKED, translation, SNIPPET, translated_in=language)


@pytest.mark.parametrize("translation, language, said", [
    ("Sie können jedes Nimbus-Gerät innerhalb von 14 Tagen zurückgeben. Das Etikett gilt 10 Tage.", "de",
     "adds 14 days; leaves out 30 days"),
    ("Sie können jedes Nimbus-Gerät innerhalb von 30 Minuten zurückgeben. Das Etikett gilt 10 Tage.", "de",
     "adds 30 minutes; leaves out 30 days"),
    ("Sie können jedes Nimbus-Gerät innerhalb von 30 Tagen zurückgeben.", "de", "leaves out 10 days"),
    ("您可以在签收后三十天内退回任何 Nimbus 设备。退货标签有效期为 10 天。", "zh", "leaves out 30 days"),
    ("Sie können jede Nimbus Cam innerhalb von 30 Tagen zurückgeben. Das Etikett gilt 10 Tage.", "de", "adds Cam"),
    ("Sie können jedes Nimbus-Gerät innerhalb von 30 Tagen zurückgeben, unter "
     "https://help.nimbushome.example/returns. Das Etikett gilt 10 Tage.", "de",
     "adds https://help.nimbushome.example/returns"),
])
def test_a_translation_that_changes_a_fact_differs(translation, language, said):
    assert str(difference(CHECKED, translation, SNIPPET, translated_in=language)) == said


def test_german_knowledge_and_an_english_customer_compare_as_well():
    german = "Nimbus Plus kostet 4,99 £ im Monat und lässt sich 30 Tage kostenlos testen."
    assert not difference(german, "Nimbus Plus costs £4.99 a month, with a 30-day free trial.", german,
                          checked_in="de", translated_in="en")
    assert str(difference(german, "Nimbus Plus costs £5.99 a month, with a 30-day free trial.", german,
                          checked_in="de", translated_in="en")) == "adds £5.99; leaves out £4.99"


@pytest.mark.parametrize("text, language, read", [
    ("4,99 £, 5,99 € oder 5,99 $ im Monat", "de", "£4.99, €5.99 oder $5.99 im Monat"),
    ("Leistung bis 3.000 W", "de", "Leistung bis 3000 W"),
    ("täglich von 9 bis 17 Uhr", "de", "täglich von 9 to 17:00"),
    ("de 9 h à 17 h 30", "fr", "de 9:00 to 17:30"),
    ("每月 4.99英镑", "zh", "每月 4.99 pounds"),
    ("相当于免费两个月", "zh", "相当于免费 2 months"),
    ("siehe https://nimbushome.example/a,12 oder 4,5", "de", "siehe https://nimbushome.example/a,12 oder 4.5"),
])
def test_the_translation_is_read_the_way_facts_are_read_in_english(text, language, read):
    assert " ".join(as_read(text, language).split()) == read
