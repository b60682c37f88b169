"""dialogue/privacy.py on its own: what is masked, what is kept, the policy, and recall on the seeded set."""

from collections import Counter

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from dialogue.messages import InboundMessage, Reply, ReplyKind
from dialogue.privacy import Masker
from dialogue.privacy_policy import Action, Entity, PrivacyPolicy
from tests.support.privacy_seeds import SEEDS, messages

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker()


def test_every_seeded_value_is_masked_and_named_as_its_kind(masker):
    missed, named = Counter(), Counter()
    for text, seeds in messages():
        masked = masker.mask(text)
        for seed in seeds:
            if seed.value in masked.text:
                missed[seed.kind] += 1
            named[seed.kind] += any(f.entity.value == seed.kind and f.value == seed.value for f in masked.findings)
    assert not missed
    assert named == Counter(seed.kind for seed in SEEDS)  # docs/privacy.md reports recall per kind from this


def test_order_numbers_and_ordinary_questions_are_left_alone(masker):
    for text in ["Where is my order NH-4155550123?", "order number 20231187", "Where is NH-482913?",
                 "What is the return policy for devices?", "It costs £49.99 since 12/03/2024 at 10:30",
                 "I have 2 devices on my way", "Is the Nimbus Cam 2 compatible with Alexa?"]:
        assert masker.mask(text).text == text


def test_masking_is_stable_so_resends_are_recognised(masker):
    once = masker.mask("card 4111 1111 1111 1111, mail ann@example.com, call +44 20 7946 0958")
    assert once.text == "card <CARD>, mail <EMAIL>, call <PHONE>"
    assert masker.mask(once.text).text == once.text


def test_policy_actions_partial_keep_and_drop():
    masker = Masker(PrivacyPolicy.parse("card=partial,email=keep,iban=drop"))
    assert masker.mask("card 4111-1111-1111-1111 mail ann@example.com").text \
        == "card <CARD ****1111> mail ann@example.com"
    dropped = masker.mask("refund to GB82 WEST 1234 5698 7654 32 please")
    assert dropped.dropped and "GB82" not in dropped.text and dropped.text.startswith("<message not stored")
    assert dropped.for_answer == "refund to <IBAN> please"


def test_policy_refuses_clear_card_numbers_and_unknown_names():
    with pytest.raises(ValidationError, match="never stored in clear"):
        Settings(pii="card=keep")
    with pytest.raises(ValueError, match="unknown kind 'passport'"):
        PrivacyPolicy.parse("passport=mask")
    with pytest.raises(ValueError, match="not an action"):
        PrivacyPolicy.parse('{"email": "hide"}')
    assert PrivacyPolicy.parse('{"email": "keep"}').action(Entity.EMAIL) is Action.KEEP


def test_replies_lose_what_they_echo_and_any_card_but_keep_the_shops_contacts(masker):
    masked = masker.mask("my email is ann@example.com")
    reply = Reply("Noted ann@example.com. Or call us on +44 20 7946 0000; your card 4111111111111111?",
                  ReplyKind.ACTION, 1, rejected={"text": "ann@example.com", "reasons": ["echo: ann@example.com"]})
    stored = masker.scrub_reply(reply, masked)
    assert stored.text == "Noted <EMAIL>. Or call us on +44 20 7946 0000; your card <CARD>?"
    assert stored.rejected == {"text": "<EMAIL>", "reasons": ["echo: <EMAIL>"]}


def test_the_profile_reads_the_raw_text_and_the_rest_is_masked(masker):
    update = masker.profile_update(masker.mask("my email is ann@example.com, was 4111 1111 1111 1111 charged?"))
    assert update.email == "ann@example.com"
    assert "4111" not in update.remainder and "<CARD>" in update.remainder


def test_metadata_strings_are_masked_but_platform_ids_kept(masker):
    message = InboundMessage("slack", "T1:D1", "hi", {"slack_ts": "1700000000.000100", "note": "ann@example.com",
                                                       "nested": [{"card": "4111 1111 1111 1111"}]})
    stored = masker.mask_message(message)
    assert stored.metadata == {"slack_ts": "1700000000.000100", "note": "<EMAIL>", "nested": [{"card": "<CARD>"}]}
