"""What an unverified sender gets instead of stored personal data (dialogue/profile.py)."""

import pytest

from dialogue.catalogue import Catalogue
from dialogue.messages import HistoryEntry, TurnRole
from dialogue.profile import Profile, ProfileField, answer_profile_question, hide_profile

pytestmark = pytest.mark.unit

USER, BOT, AGENT = TurnRole.USER, TurnRole.BOT, TurnRole.AGENT
ADA = Profile("Ada Lovelace", "ada.lovelace@example.org", "+44 20 7946 0321", ["NH-77123", "NH-80001"])


KEYS = {ProfileField.NAME: "name", ProfileField.EMAIL: "email", ProfileField.PHONE: "phone",
        ProfileField.ORDER: "orders"}


@pytest.mark.parametrize("asked", list(ProfileField))
def test_an_unverified_sender_is_told_why_in_every_language(asked):
    catalogue = Catalogue.load()
    for language in sorted(catalogue.languages):
        say = catalogue.phrases(language)
        answer = answer_profile_question(asked, None, say)
        assert answer == say("profile_withheld", field=say(f"profile_field_{KEYS[asked]}"))
        assert say(f"profile_field_{KEYS[asked]}") in answer
        assert not any(value in answer for value in ("Lovelace", "ada.lovelace", "7946", "NH-77123"))
    assert "sign in" in answer_profile_question(asked, None)
    assert answer_profile_question(ProfileField.NAME, ADA) == "Your name is Ada Lovelace."


def test_hide_profile_replaces_every_stored_value_in_the_turns():
    turns = [HistoryEntry(USER, "Hi, my name is Ada Lovelace and my orders are NH-77123 and nh-80001"),
             HistoryEntry(BOT, "Nice to meet you, Ada Lovelace! I've noted order NH-77123."),
             HistoryEntry(USER, "ADA again: write to ada.lovelace@example.org or call +44 20 7946 0321"),
             HistoryEntry(AGENT, "Adam from Canada will call about it")]
    assert hide_profile(turns, ADA) == [
        HistoryEntry(USER, "Hi, my name is [name] and my orders are [order number] and [order number]"),
        HistoryEntry(BOT, "Nice to meet you, [name]! I've noted order [order number]."),
        HistoryEntry(USER, "[name] again: write to [email] or call [phone]"),
        HistoryEntry(AGENT, "Adam from Canada will call about it")]  # only whole words: no "[name]m", no "Can[name]"


def test_hide_profile_leaves_the_turns_alone_when_nothing_is_stored():
    turns = [HistoryEntry(USER, "Where is my order?")]
    assert hide_profile(turns, Profile(None, None, None, [])) == turns
