"""The checks a generated reply passes before a customer sees it, the sentence splitter behind citations,
and how a message that asks two things is split."""

import pytest

from dialogue.context import split_question
from dialogue.grounding import SentenceGate, check_reply, mark_citations, sentences
from dialogue.source_talk import without_source_talk

pytestmark = pytest.mark.unit

SNIPPETS = ["How much does Nimbus Plus cost?\nNimbus Plus costs £4.99 a month or £49.99 a year. "
            "See https://help.nimbushome.example/plus.",
            "Do you offer a student discount?\nStudents get 20% off devices with a code from "
            "https://help.nimbushome.example/student."]


def test_citations_keep_prices_and_links_whole():
    assert mark_citations("Costs £4.99. See https://help.nimbushome.example/plus.",
                          ["Costs £4.99. See https://help.nimbushome.example/plus."]) == (
        "Costs £4.99 [1]. See https://help.nimbushome.example/plus [1].")
    assert mark_citations("Nimbus Plus costs £4.99 a month. Students get 20% off devices.", SNIPPETS) == (
        "Nimbus Plus costs £4.99 a month [1]. Students get 20% off devices [2].")


def test_sentences_keep_numbers_emails_and_abbreviations():
    assert sentences("Write to support@nimbushome.example. It costs £4.99, e.g. for the Hub. Done!") == [
        "Write to support@nimbushome.example.", "It costs £4.99, e.g. for the Hub.", "Done!"]


def test_a_supported_reply_passes():
    assert check_reply("Nimbus Plus costs £4.99 a month [1].", SNIPPETS, "How much is Plus?").passed


@pytest.mark.parametrize("reply, reason", [
    ("Nimbus Plus costs £5.99 a month.", "states £5.99"),  # a wrong number
    ("Nimbus Plus includes a data cap section on the website.", "no snippet supports"),
    ("How much does Nimbus Plus cost per month? It costs £4.99 a month.", "repeats the question"),
    # two snippets in one claim
    ("Nimbus Plus costs £4.99 a month and students get 20% off devices.", "no snippet supports"),
    ("", "says nothing"),
    # asks back, answers nothing (SmolLM2: "[2] How do I get a warranty claim?")
    ("[1] Do you want Nimbus Plus for £4.99 a month or for £49.99 a year?", "only asks a question"),
])
def test_an_unsupported_reply_is_stopped_with_its_reason(reply, reason):
    check = check_reply(reply, SNIPPETS, "How much does Nimbus Plus cost per month?")
    assert not check.passed and any(reason in r for r in check.reasons), check.reasons


def test_a_reply_built_only_on_a_weaker_snippet_is_stopped():
    check = check_reply("Students get 20% off devices.", SNIPPETS, "How much is Plus?")
    assert not check.passed and "best-matching snippet" in check.reasons[0]
    assert check_reply("Students get 20% off devices.", SNIPPETS[1:], "Student discount?").passed


def test_a_reply_that_repeats_an_earlier_bot_turn_is_stopped():
    earlier = ["Nimbus Plus costs £4.99 a month or £49.99 a year."]
    check = check_reply("Nimbus Plus costs £4.99 a month or £49.99 a year.", SNIPPETS, "And students?", earlier)
    assert not check.passed and "repeats an earlier reply" in check.reasons[0]


def test_a_reply_stuck_in_a_loop_or_denying_a_person_is_stopped():
    # Seen from SmolLM2 in the held-out conversations: a refusal repeated until the token limit.
    looping = ("I'm sorry, I can't help with that: it isn't covered by what I know. "
               "I'm not able to connect you to a person. I'm not able to connect you to a person.")
    check = check_reply(looping, SNIPPETS, "What about in the USA?")
    assert not check.passed and "cannot reach a person" in check.reasons[0]
    check = check_reply("Nimbus Plus costs £4.99 a month. Nimbus Plus costs £4.99 a month.", SNIPPETS, "Plus?")
    assert not check.passed and check.reasons == ["repeats itself: 'Nimbus Plus costs £4.99 a month.'"]
    assert check_reply("I'm not sure. Would you like me to connect you with a person?", SNIPPETS, "Plus?").passed
    shown = []
    gate = SentenceGate(shown.append, SNIPPETS, "What does Plus cost?", [])
    for piece in ["I don't know. ", "I don't know. ", "I don't know."]:
        gate.feed(piece)
    assert "".join(shown) == "I don't know. " and gate.failed


def test_the_stream_shows_only_checked_sentences():
    shown = []
    gate = SentenceGate(shown.append, SNIPPETS, "What does Plus cost?", [])
    for piece in ["Nimbus Plus costs £4.99 ", "a month. Plus has ", "a free drone. ", "Students get 20% off."]:
        gate.feed(piece)
    assert "".join(shown) == "Nimbus Plus costs £4.99 a month. " and gate.failed


@pytest.mark.parametrize("reply, sent", [
    ("The payment leaves your account on the 8th. This is specified in the knowledge snippet [1].",
     "The payment leaves your account on the 8th."),
    ("According to the knowledge snippets [2], returns are free. You get a label.",
     "Returns are free. You get a label."),
    ("Based on the information provided, the fee is £10.", "The fee is £10."),
    ("The knowledge snippet indicates that Lite stops at 10 GB.", "Lite stops at 10 GB."),
    ("This information is stated in snippet [2].", ""),
    # Not about the sources: left as written.
    ("Our returns policy covers this. The context of your order matters.",
     "Our returns policy covers this. The context of your order matters."),
    ("See the FAQ on returns for details.", "See the FAQ on returns for details."),
])
def test_what_an_lm_says_about_its_sources_is_taken_out(reply, sent):
    assert without_source_talk(reply) == sent


def test_the_stream_leaves_out_what_the_lm_says_about_its_sources():
    shown = []
    gate = SentenceGate(shown.append, SNIPPETS, "What does Plus cost?", [])
    for piece in ["According to the snippet, Nimbus Plus costs £4.99 ", "a month. This is stated in the ",
                  "knowledge snippet [1]. Students get 20% off devices. ", "Done."]:
        gate.feed(piece)
    assert "".join(shown) == "Nimbus Plus costs £4.99 a month. Students get 20% off devices. " and not gate.failed


@pytest.mark.parametrize("message, parts", [
    ("What does Nimbus Plus cost and is there a student discount?",
     ["What does Nimbus Plus cost", "is there a student discount?"]),
    ("I factory reset my camera, how do I connect it to the app again?",
     ["I factory reset my camera", "how do I connect it to the app again?"]),
    ("Do you ship to Spain? How much does it cost?", ["Do you ship to Spain", "How much does it cost?"]),
    ("Can I return it and get a refund?", ["Can I return it and get a refund?"]),
    ("What is the return policy for devices?", ["What is the return policy for devices?"]),
])
def test_a_message_that_asks_two_things_is_split(message, parts):
    assert split_question(message) == parts


def test_a_catalogue_model_is_kept_only_when_its_sha256_matches(tmp_path):
    import hashlib

    from core.errors import ModelUnavailable
    from dialogue.lm.catalogue import CatalogueModel, assemble, verified_file

    parts = [tmp_path / "part01.bin", tmp_path / "part02.bin"]
    parts[0].write_bytes(b"GGUF first half ")
    parts[1].write_bytes(b"second half")
    digest = hashlib.sha256(b"GGUF first half second half").hexdigest()
    good = CatalogueModel("m.gguf", digest, 27, ("a==1", "b==1"), "data/part*.bin")
    models = tmp_path / "models"
    assert assemble(parts, good, models / "m.gguf").read_bytes() == b"GGUF first half second half"
    bad = CatalogueModel("n.gguf", "0" * 64, 27, ("a==1",), "data/part*.bin")
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        assemble(list(reversed(parts)), bad, models / "n.gguf")
    assert not (models / "n.gguf").exists() and not list(models.glob("n.gguf*"))
    (models / "m.gguf").write_bytes(b"GGUF tampered with, same length")
    import dialogue.lm.catalogue as catalogue

    catalogue.CATALOGUE["test-model"] = good
    try:
        with pytest.raises(ModelUnavailable, match="does not match"):
            verified_file("test-model", models)
    finally:
        del catalogue.CATALOGUE["test-model"]
