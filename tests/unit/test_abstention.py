"""Clauses that claim nothing (dialogue/abstention.py), and a "Yes" that says the customer's words back
(dialogue/yes_no.py `said_back_unbacked`), through the reply check."""

import pytest

from dialogue.abstention import claimed, is_courtesy, is_refusal
from dialogue.grounding import check_reply

pytestmark = pytest.mark.unit

PLUS = ("How much does Nimbus Plus cost?\nNimbus Plus costs £4.99 / €5.99 / $5.99 a month or £49.99 / €59.99 / "
        "$59.99 a year, with a 30-day free trial for new subscribers.")
CAM = ("How do I set up my Nimbus Cam?\nNimbus Cam connects straight to Wi-Fi, so it doesn't need the hub. For local "
       "recording you can insert a microSD card of up to 256 GB.")
WARRANTY = ("What does the Nimbus warranty cover?\nDevices have a 2-year warranty against manufacturing faults. It "
            "doesn't cover accidental damage, water damage or normal wear.")


@pytest.mark.parametrize("reply", [
    "Nimbus Plus costs £9.99 a month, though I'm not sure about other regions.",
    "I don't know the yearly price, but Nimbus Plus costs £9.99 a month.",
    "Nimbus Plus costs £9.99 a month; I can connect you with our team for more.",
    "The information I have doesn't mention student prices, but Nimbus Plus costs £9.99 a month.",
])
def test_a_refusal_beside_a_claim_does_not_leave_the_claim_unchecked(reply):
    # A refusal used to be found anywhere in a sentence, and the whole sentence then went unchecked.
    check = check_reply(reply, [PLUS], "how much is nimbus plus?")
    assert not check.passed and "£9.99" in check.reasons[0]
    assert check_reply(reply.replace("£9.99", "£4.99"), [PLUS], "how much is nimbus plus?").passed


def test_saying_what_the_information_leaves_out_passes_beside_what_it_does_say():
    question = "thinking of putting the cam above my front door, is it waterproof?"
    honest = ("I'm afraid the information I have doesn't say whether the Nimbus Cam is waterproof or rated for outdoor "
              "use. Worth knowing too that the warranty doesn't cover water damage, so I'd suggest checking with our "
              "support team before mounting it outside.")
    assert check_reply(honest, [CAM, WARRANTY], question).passed  # the claim is the second snippet's: it says why
    assert check_reply("The details I have don't mention waterproofing, so I can't confirm it. Happy to connect you "
                       "with the team to check.", [CAM, WARRANTY], question).passed
    # A fact inside the "doesn't say" clause is still checked.
    assert not check_reply("The information I have doesn't say whether the 3-year warranty covers water.",
                           [CAM, WARRANTY], question).passed


def test_claimed_keeps_every_clause_that_claims_something():
    assert claimed("Nimbus Plus costs £4.99 a month; it has a free trial.") == (
        "Nimbus Plus costs £4.99 a month; it has a free trial.")
    assert claimed("I can't confirm that, but Plus costs £4.99 a month.") == "but Plus costs £4.99 a month."
    assert claimed("I can't confirm that, sorry.") == "sorry."
    assert is_refusal("I don't know that, sorry.")
    assert is_refusal("I can't confirm that. Happy to connect you with the team.")
    assert not is_refusal("I'm not sure, but Plus costs £4.99 a month.")
    # What a warranty does not cover is a claim, not what the information leaves out.
    assert not is_refusal("The warranty doesn't cover water damage.")


@pytest.mark.parametrize("question, reply", [
    ("is the nimbus cam waterproof?", "Yes, the Nimbus Cam is waterproof."),
    ("is the cam weatherproof for outdoor use?", "Yes, it is weatherproof, and it records to a microSD card."),
    ("does the cam work with alexa?", "Yes, the Nimbus Cam works with Alexa."),
])
def test_a_yes_that_says_the_customers_words_back_needs_a_snippet_that_has_them(question, reply):
    check = check_reply(reply, [CAM], question)
    assert not check.passed and "says yes to" in check.reasons[0]


LOST = ("What should I do if my phone is stolen?\nCall 0800 555 0199, open 24 hours a day, and we'll bar your SIM.")


@pytest.mark.parametrize("question, reply, snippet", [
    ("can the cam record to a microSD card?", "Yes, you can insert a microSD card of up to 256 GB for local recording.",
     CAM),
    ("does the cam need the hub or can it go on my wifi?",
     "Yes, Nimbus Cam connects straight to wifi, so it doesn't need the hub.", CAM),
    ("my phone got nicked on the bus, can I call you to block it?",
     "Yes, call 0800 555 0199 to block it: it's open 24 hours a day and we'll bar your SIM.", LOST),
])
def test_a_yes_in_the_snippets_words_or_with_one_word_of_the_customers_passes(question, reply, snippet):
    assert check_reply(reply, [snippet], question).passed


def test_saying_the_information_leaves_out_what_it_does_say_is_checked_as_a_claim():
    # Qwen2.5-Coder-1.5B on the mobile operator's roaming FAQ, which gives Lite's price.
    roaming = ("Can I use my phone abroad in Europe?\nPlus and Unlimited include roaming in the EU at no extra cost. "
               "On Lite, roaming in the EU costs £2.25 a day, charged only on days you use your phone.")
    check = check_reply("Roaming in the EU at no extra cost is available for Plus and Unlimited plans, but it does not "
                        "mention any roaming charges for Lite plans.", [roaming], "will I be charged in Italy?")
    assert not check.passed
    assert check_reply("Roaming in the EU is free on Plus and Unlimited, but the information I have doesn't say "
                       "whether Italy's islands count.", [roaming], "will I be charged in Italy?").passed


def test_a_yes_is_judged_on_what_the_customer_asks_not_on_what_they_told_first():
    prices = ("Will my prices go up?\nMonthly prices rise by a fixed £1.50 every April. The rise is part of your "
              "contract, so it does not give you the right to leave a 12-month plan without the termination fee.")
    question = ("got an email saying prices go up in april. does that mean i can get out of my 12 month contract "
                "without paying the fee?")
    check = check_reply("Yes, because your monthly price is going up by £1.50, you can leave your 12-month plan "
                        "without the early termination fee.", [prices], question)
    assert not check.passed and "answers 'Yes'" in check.reasons[0]
    assert check_reply("No: the £1.50 April rise is part of your contract, so it does not give you the right to leave "
                       "a 12-month plan without the termination fee.", [prices], question).passed


def test_a_hyphen_does_not_hide_the_snippets_no():
    stock = ("When will it be back in stock?\nRestocks usually take 2 to 4 weeks. We don't take pre-orders or "
             "backorders.")
    check = check_reply("Yes, you can preorder it and it ships within 2 to 4 weeks.", [stock],
                        "thermo sold out :( can i preorder one?")
    assert not check.passed


def test_what_the_information_leaves_out_is_read_in_the_catalogue_languages():
    devices = "Funktioniert die Kamera mit Alexa?\nJa, die Nimbus Cam funktioniert mit Alexa und Google Assistant."
    question = "Ist die Kamera wasserdicht?"
    assert check_reply("Dazu habe ich keine Informationen, aber ich verbinde Sie gern mit unserem Team.", [devices],
                       question).passed
    assert not check_reply("Die Nimbus Cam kostet 99 €, das kann ich aber nicht bestätigen.", [devices],
                           question).passed
    cam = "摄像头能连接 Alexa 吗？\n可以，Nimbus Cam 支持 Alexa 和 Google Assistant。"
    assert check_reply("资料中没有提到摄像头是否防水，我可以帮您转接人工客服。", [cam], "摄像头防水吗？").passed
    assert not check_reply("摄像头售价99元，但我不确定。", [cam], "摄像头多少钱？").passed


def test_a_country_is_not_among_a_count_of_places_the_snippet_gives_examples_of():
    world = ("Can I use my phone abroad?\nOutside the EU, add a World Pass for £6 a day: it lets you use your UK "
             "minutes, texts and data in 60 countries, including the USA, Canada and Australia.")
    question = "flying to tokyo next month. will the world pass work in japan?"
    check = check_reply("Yes, Japan is one of the 60 World Pass countries, so for £6 a day you can use your UK "
                        "minutes, texts and data there.", [world], question)
    assert not check.passed and "Japan" in check.reasons[0]
    assert check_reply("Yes, the World Pass covers the USA for £6 a day.", [world],
                       "will the world pass work in the usa?").passed
    assert check_reply("Outside the EU, in Japan too, you can add a World Pass for £6 a day.", [world],
                       question).passed


def test_what_a_thing_does_not_give_or_tell_is_a_claim_not_an_abstention():
    prices = ("Will my prices go up?\nMonthly prices rise by a fixed £1.50 every April. The rise is part of your "
              "contract, so it does not give you the right to leave a 12-month plan without the termination fee.")
    assert not is_refusal("It doesn't give you the right to leave.")
    assert claimed("The rise doesn't give you a discount, and it doesn't tell you about Japan.") == (
        "The rise doesn't give you a discount, and it doesn't tell you about Japan.")
    assert not check_reply("The rise is part of your contract, and it doesn't give you free roaming in Japan.",
                           [prices], "does the price rise give me free roaming?").passed


def test_sympathy_may_use_the_snippets_words_for_what_the_customer_told():
    damaged = ("What should I do if my order arrived damaged?\nPlease report it within 7 days of delivery with your "
               "order number and photos.")
    question = "only opened the parcel today and the hub casing is cracked. what happens now?"
    assert is_courtesy("Sorry to hear it arrived damaged!", question, damaged)
    assert not is_courtesy("Sorry to hear it arrived damaged!", question)
    assert not is_courtesy("Sorry to hear it arrived damaged within 7 days!", question, damaged)  # a fact
    assert not is_courtesy("Sorry to hear it can't be reported!", question, damaged)  # a denial
