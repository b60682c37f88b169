"""The conversation's language, the message catalogue, and understanding in every catalogue language."""

import re
import time

import pytest
import yaml

from dialogue.catalogue import Catalogue, CatalogueError, builtin_texts, english
from dialogue.language import LanguageConfig, LanguagePolicy, normalise_code
from core.language_detection import LanguageDetector, letters
from dialogue.manager import FALLBACK_TEXT
from dialogue.policy import wants_person
from dialogue.profile import ProfileField, asked_profile_field, is_only_self_description
from dialogue.self_description import extract_profile
from dialogue.small_talk import SmallTalk, says_yes, small_talk

CATALOGUE_LANGUAGES = ("en", "de", "fr", "es", "zh", "ja")


@pytest.fixture(scope="module")
def policy() -> LanguagePolicy:
    return LanguagePolicy(LanguageConfig(default="en"), known=frozenset(CATALOGUE_LANGUAGES))


@pytest.mark.unit
@pytest.mark.parametrize(("text", "code"), [
    ("Hallo, wie kann ich meine Kamera zurückgeben?", "de"), ("我的摄像头离线了怎么办", "zh"),
    ("Comment retourner une caméra ?", "fr"), ("¿Dónde está mi pedido?", "es"), ("カメラを返品するには？", "ja"),
    ("Nimbus Plus 每月多少钱？", "zh"),  # a brand name in Latin letters does not make it English
    ("كم سعر Nimbus Plus شهريا؟", "ar"), ("How do I return a camera?", "en"),
])
def test_detects_the_language_of_a_customer_message(text, code):
    assert LanguageDetector().detect(text).code == code


@pytest.mark.unit
def test_short_messages_keep_the_conversations_language(policy):
    assert policy.choose("de", "ok") == "de"
    assert policy.choose("de", "thanks") == "de"
    assert policy.choose("zh", "👍👍") == "zh"
    assert policy.choose("de", "NH-12345") == "de"
    assert policy.choose("de", "How do I return a camera?") == "en"  # a real sentence switches it
    assert policy.choose(None, "ok") == "en"  # nothing known yet: the default
    assert policy.choose(None, "Bonjour") == "fr"  # a confident greeting in a catalogue language
    assert policy.choose(None, "ja") == "en"  # fastText's Finnish is not trusted on two letters
    # An English sentence the lite model takes for French (0.69) does not switch the conversation away
    # from English; a real French, German or Chinese sentence (0.94-1.0) does.
    assert policy.choose(None, "send me a gift voucher") == "en"
    assert policy.choose("en", "send me a gift voucher code") == "en"
    assert policy.choose("en", "Je voudrais retourner ma caméra") == "fr"
    assert policy.choose("en", "Gibt es einen Studentenrabatt?") == "de"
    # A German follow-up whose words English shares stays German; the detector put English first (0.55, German 0.37).
    assert policy.choose("de", "und was kostet das?") == "de"
    assert policy.choose(None, "und was kostet das?") == "en"  # with no conversation language, as before
    # Han script is Chinese however unsure the model is (zh 0.60; "Nimbus Hub 刚拆箱" its first guess Japanese 0.41
    # against Chinese 0.57 over its variants): both got English replies before.
    assert policy.choose(None, "拆开包裹的时候温控器的屏幕已经碎了") == "zh"
    assert policy.choose("en", "Nimbus Hub 刚拆箱，怎么让它用起来？") == "zh"
    assert policy.choose(None, "パスワードを忘れました") == "ja"


@pytest.mark.unit
@pytest.mark.parametrize(("greeting", "code"), [
    ("Hallo!", "de"), ("hallo zusammen", "de"), ("Guten Tag!", "de"), ("Moin", "de"), ("Hola", "es"),
    ("Buenas tardes", "es"), ("Salut !", "fr"), ("您好", "zh"), ("こんにちは", "ja"), ("Hi!", "en"), ("Hello", "en"),
])
def test_a_first_greeting_sets_the_conversations_language(policy, greeting, code):
    # "Hallo!" is too short for the detector (it kept English before); a greeting of the catalogue says its language.
    assert policy.choose(None, greeting) == code
    if letters(greeting) < 10:  # later in a conversation, a short message keeps its language
        assert policy.choose("en", greeting) == "en"


@pytest.mark.unit
def test_cjk_characters_count_as_more_than_one_letter():
    assert letters("我忘记密码了") >= 10 and letters("谢谢") < 10 and letters("ok 👍 123") == 2


@pytest.mark.unit
def test_metadata_sets_the_language(policy):
    assert policy.choose("en", "How do I return a camera?", {"language": "de-DE"}) == "de"
    assert policy.choose("en", "ok", {"lang": "zh_Hans"}) == "zh"
    assert policy.choose("en", "How do I return a camera?", {"language": "not a language"}) == "en"
    assert normalise_code(42) is None and normalise_code("EN") == "en"


@pytest.mark.unit
def test_detection_is_fast():
    detector = LanguageDetector()
    detector.warm_up()
    started = time.perf_counter()
    for _ in range(200):
        detector.detect("Wie kann ich meine Kamera zurückgeben?")
    assert (time.perf_counter() - started) / 200 < 0.005


@pytest.mark.unit
def test_every_catalogue_has_every_text_with_the_same_placeholders():
    texts = builtin_texts()
    assert set(CATALOGUE_LANGUAGES) <= set(texts)
    for language, own in texts.items():
        assert set(own) == set(texts["en"]), language
        for key, text in own.items():
            assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", texts["en"][key])), (language, key)
    assert english()("fallback") == FALLBACK_TEXT  # training data's refusal is the English fallback


@pytest.mark.unit
@pytest.mark.parametrize("language", CATALOGUE_LANGUAGES)
def test_the_handoff_phrase_each_fallback_quotes_is_understood(language):
    say = Catalogue.load().phrases(language)
    quoted = re.findall(r"[\"“„«「](.+?)[\"”“»」]", say("fallback"))
    assert quoted and wants_person(quoted[-1].strip()), quoted
    assert wants_person(say("person_button"))


@pytest.mark.unit
def test_a_deployment_overrides_and_adds_texts(tmp_path):
    path = tmp_path / "phrases.yaml"
    path.write_text(yaml.safe_dump({"de": {"greeting": "Moin! Was kann ich tun?"},
                                    "it": {"greeting": "Ciao! Come posso aiutarti?"}}, allow_unicode=True))
    catalogue = Catalogue.load(path, default="de")
    assert catalogue.phrases("de")("greeting") == "Moin! Was kann ich tun?"
    assert catalogue.phrases("it")("greeting") == "Ciao! Come posso aiutarti?"
    assert catalogue.phrases("it")("fallback") == catalogue.phrases("de")("fallback")  # missing: the default's
    assert catalogue.phrases("ko")("fallback") == catalogue.phrases("de")("fallback")  # unknown language too


@pytest.mark.unit
@pytest.mark.parametrize(("content", "error"), [
    ({"de": {"greting": "Hallo"}}, "not a text of the catalogue"),
    ({"de": {"greeting_named": "Hallo!"}}, "placeholders name"),
    ({"deutsch!": {"greeting": "Hallo"}}, "not a language code"),
    (["de"], "expected a mapping"),
])
def test_a_wrong_phrases_file_is_refused_with_the_reason(tmp_path, content, error):
    path = tmp_path / "phrases.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(CatalogueError, match=error):
        Catalogue.load(path)


@pytest.mark.unit
@pytest.mark.parametrize(("message", "kind"), [
    ("Hallo", SmallTalk.GREETING), ("Guten Morgen!", SmallTalk.GREETING), ("Danke schön!", SmallTalk.THANKS),
    ("vielen Dank für die Hilfe", SmallTalk.THANKS), ("Tschüss", SmallTalk.GOODBYE),
    ("Bist du ein Bot?", SmallTalk.BOT_CHALLENGE), ("ja bitte", SmallTalk.YES), ("nein danke", SmallTalk.NO),
    ("Bonjour", SmallTalk.GREETING), ("merci beaucoup", SmallTalk.THANKS), ("oui", SmallTalk.YES),
    ("¡Hola!", None), ("hola", SmallTalk.GREETING), ("muchas gracias", SmallTalk.THANKS), ("sí", SmallTalk.YES),
    ("你好", SmallTalk.GREETING), ("谢谢！", SmallTalk.THANKS), ("再见", SmallTalk.GOODBYE),
    ("你是机器人吗？", SmallTalk.BOT_CHALLENGE), ("是的", SmallTalk.YES), ("不用了", SmallTalk.NO),
    ("こんにちは", SmallTalk.GREETING), ("ありがとうございます", SmallTalk.THANKS), ("はい", SmallTalk.YES),
    ("いいえ", SmallTalk.NO), ("Wie kann ich meine Kamera zurückgeben?", None), ("我的摄像头离线了怎么办", None),
])
def test_small_talk_in_every_catalogue_language(message, kind):
    assert small_talk(message) is kind


@pytest.mark.unit
def test_yes_in_every_catalogue_language():
    assert all(says_yes(m) for m in ("ja", "oui", "sí", "是的", "好的", "はい", "in Ordnung", "vale"))
    assert not any(says_yes(m) for m in ("nein", "non", "不用了", "いいえ"))


@pytest.mark.unit
@pytest.mark.parametrize("message", [
    "Ich möchte mit einem Menschen sprechen", "Je voudrais parler à une personne", "Quiero hablar con una persona",
    "转人工", "我要人工客服", "担当者と話したい"])
def test_a_person_is_asked_for_in_every_catalogue_language(message):
    assert wants_person(message)


@pytest.mark.unit
@pytest.mark.parametrize(("message", "name"), [
    ("Ich heiße Anna", "Anna"), ("je m'appelle Léa", "Léa"), ("Me llamo Carlos", "Carlos"), ("我叫李华", "李华"),
    ("私の名前は田中です", "田中"), ("Mein Name ist Jonas und ich habe eine Frage", "Jonas")])
def test_names_in_every_catalogue_language(message, name):
    assert extract_profile(message).name == name


@pytest.mark.unit
def test_profile_facts_and_questions_in_other_languages():
    update = extract_profile("我的邮箱是li@example.cn，我的订单号是NH-12345")
    assert update.email == "li@example.cn" and update.order_numbers == ["NH-12345"]
    assert not is_only_self_description(extract_profile("我叫李华，我的摄像头离线了怎么办？"))
    assert is_only_self_description(extract_profile("你好，我叫李华"))
    assert asked_profile_field("Wie heiße ich?") is ProfileField.NAME
    assert asked_profile_field("我的订单号是什么？") is ProfileField.ORDER
    assert asked_profile_field("Quelle est mon adresse e-mail ?") is ProfileField.EMAIL


@pytest.mark.unit
def test_text_without_a_cjk_customers_script_is_in_another_language():
    # dialogue/manager.py `_other_language`: "How do firmware updates work?" reads as English only 0.36, and its
    # English answer went to a Chinese customer without the other-language note.
    from core.language_detection import script_apart

    assert script_apart("zh", "How do firmware updates work?\nUpdates install automatically at night.")
    assert not script_apart("zh", "Nimbus Plus 每月多少钱？") and not script_apart("ja", "パスワード")
    assert not script_apart("de", "How do firmware updates work?")  # Latin scripts are told apart by the model
