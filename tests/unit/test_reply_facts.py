"""The reply check against wrong answers whatever the model: whole facts with their units, yes/no and negation
that agree with the snippet, facts kept with their plan, product or region, and the dev set's rates."""

import pytest

from dialogue.answering import fitting_opening
from dialogue.facts import FactKind, facts, unstated
from dialogue.grounding import SentenceGate, check_reply, tidied
from training.reply_check_eval import current_check, evaluate, load_pairs

pytestmark = pytest.mark.unit

CUSTOMS = ("Will I have to pay customs or import duties?\nNo. We only ship to the UK, the EU and the US, and every "
           "order is sent from a warehouse inside that region, so there are no customs duties or import fees. We "
           "don't currently ship to any other countries.")
HOURS = "When can I reach support?\nChat support is available 24/7. Phone support is open 7am-11pm, Monday to Sunday."
ROAMING = ("How much does roaming cost?\nRoaming in the EU: on the Basic plan it costs $5 per day; on the Premium plan "
           "roaming is included at no extra cost.")


@pytest.mark.parametrize("reply, snippet, unstated_fact", [
    ("It covers 40 countries.", "It covers 140 countries.", "40"),
    ("It is due on the 1st.", "Payments are due on the 21st of each month.", "1st"),
    ("The link is valid for 10 days.", "The link is valid for 10 minutes.", "10 days"),
    ("Chat closes at 2pm.", "Chat is open 8:00-22:00.", "2pm"),
    ("See https://shop.example/student.", "See https://shop.example/students.", "https://shop.example/student"),
    ("Call 0800 555 0100.", "Lost phones: call 0800 555 0199.", "0800 555 0100"),
    ("It costs £1 more.", "Prices rise by £1.50.", "£1"),
    ("The World Pass is £6 a month.", "Add a World Pass for £6 a day.", "£6"),
    ("Premium roaming is $5 per day.", "On Basic it costs $5/day.", None),
    ("UK express arrives the same day.", "UK express is next working day for £6.95.", "same day"),
    ("Personal data is deleted immediately.", "Recordings are deleted at once, personal data within 30 days.", None),
    ("Refunds arrive immediately.", "Refunds arrive within 5 working days.", "immediately"),
    ("Your bank shows it 3-5 working days later.", "We refund within 5 working days; card refunds then take 3-10 "
     "working days to show.", "3-5 working days"),
    ("Cards take 3-10 working days.", "Card refunds then take 3-10 working days to show.", None),
])
def test_a_fact_is_stated_only_whole_and_with_its_unit(reply, snippet, unstated_fact):
    assert [fact.text for fact in unstated(reply, snippet)] == ([unstated_fact] if unstated_fact else [])


@pytest.mark.parametrize("reply, snippet", [
    ("Chat is open from 8am to 10pm.", "Chat is open 8:00-22:00 every day."),
    ("Call us 24/7.", "Call 0800 555 0199, 24 hours a day."),
    ("Call 0800 555 0199 24 hours a day.", "Call 0800 555 0199 straight away, 24 hours a day."),
    ("The fee is £10 a month.", "The fee is £10, charged monthly."),
    ("Devices have a two-year warranty.", "Every device has a 2-year warranty."),
    ("Standard delivery takes 3 working days.", "Standard delivery takes 2-3 working days."),
    ("Plus costs 4.99 a month.", "Nimbus Plus costs £4.99 a month."),
    ("The UK plug handles 3000 W.", "The UK plug handles up to 13 A / 3,000 W."),
])
def test_the_same_fact_written_another_way_is_stated(reply, snippet):
    assert unstated(reply, snippet) == []


def test_facts_are_read_whole_with_their_kind():
    found = {(fact.kind, fact.value, fact.unit) for fact in facts(
        "Call +44 20 7946 0000 by 14:00, order NH-10293, 2-3 working days, 20% off, the 8th, £5.99.")}
    assert found == {(FactKind.PHONE, "442079460000", None), (FactKind.TIME, "840", None),
                     (FactKind.REFERENCE, "NH-10293", None), (FactKind.NUMBER, "2", "day"),
                     (FactKind.NUMBER, "3", "day"), (FactKind.NUMBER, "20", "%"), (FactKind.ORDINAL, "8", None),
                     (FactKind.MONEY, "GBP 5.99", None)}


def test_the_small_models_copied_no_is_stopped_and_a_true_answer_passes():
    check = check_reply("No. We only ship to the UK, the EU and the US.", [CUSTOMS], "do you ship to germany?")
    assert not check.passed and "answers 'No'" in check.reasons[0]
    assert check_reply("No, we only ship to the UK, the EU and the US.", [CUSTOMS], "do you ship to Japan?").passed
    assert not check_reply("Yes, we ship to the EU.", [CUSTOMS], "do you ship to Japan?").passed
    assert check_reply("We ship to the UK, the EU and the US.", [CUSTOMS], "do you ship to germany?").passed


def test_a_flipped_answer_and_another_services_hours_are_stopped():
    flipped = check_reply("No, chat support closes at 11pm.", [HOURS], "Is chat support open 24/7?")
    assert not flipped.passed
    assert check_reply("Yes, chat support is available 24/7.", [HOURS], "Is chat support open 24/7?").passed
    assert not check_reply("Chat support is open until 11pm.", [HOURS], "When does chat close?").passed
    assert check_reply("Phone support is open until 11pm.", [HOURS], "When does phone support close?").passed


def test_a_fact_of_one_plan_is_not_stated_for_another():
    wrong = check_reply("On the Premium plan, roaming in the EU costs $5 per day.", [ROAMING], "Premium roaming?")
    assert not wrong.passed and "another entity" in wrong.reasons[0]
    assert check_reply("On the Basic plan, roaming in the EU costs $5 per day.", [ROAMING], "Basic roaming?").passed


PLANS = ("How much do the SIM-only plans cost?\nLite has 10 GB of data for £8 a month, Plus has 50 GB for £14 a "
         "month and Unlimited has unlimited data for £22 a month. You can take any plan as a 30-day rolling plan or "
         "a 12-month plan at the same price.")


def test_a_fact_of_one_plan_among_others_is_said_with_its_plan():
    # Qwen2.5-Coder-1.5B, asked "what's the fee?" after "Can I cancel my 12-month plan?": Unlimited's price, said of
    # no plan. Named in the reply, in the question, or by another of the plan's facts, it is the plan's.
    wrong = check_reply("The fee for the 12-month plan is £22 a month.", [PLANS], "what's the fee?")
    assert wrong.reasons == ["states £22 without naming whose it is (unlimit): "
                             "'The fee for the 12-month plan is £22 a month.'"]
    assert check_reply("Unlimited costs £22 a month.", [PLANS], "what's the fee?").passed
    assert check_reply("It costs £22 a month.", [PLANS], "How much is Unlimited?").passed
    assert check_reply("It costs £22 a month.", [PLANS], "And the fee?", ["Unlimited has unlimited data."]).passed
    assert check_reply("The 50 GB plan costs £14 a month.", [PLANS], "what's the fee?").passed
    assert not check_reply("The 50 GB plan costs £22 a month.", [PLANS], "what's the fee?").passed
    # A fact that is the only one of its kind, or said of every plan, needs no name.
    assert check_reply("You can take any plan as a 12-month plan.", [PLANS], "How long are the contracts?").passed
    assert check_reply("Nimbus Plus costs £4.99 a month.", [SNIPPETS_PLUS], "what does it cost?").passed


SNIPPETS_PLUS = "How much does Nimbus Plus cost?\nNimbus Plus costs £4.99 a month or £49.99 a year."


THERMO = ("Is the Nimbus Thermo compatible with my heating system's wiring?\nNimbus Thermo works with most 24 V "
          "low-voltage systems, including gas and oil boilers, furnaces and heat pumps with up to 2 heating and 1 "
          "cooling stage. It is not compatible with high-voltage (120/240 V) electric baseboard heaters.")


def test_a_fact_the_snippet_gives_only_in_a_denial_is_not_asserted():
    # 240 V is in the snippet only where it says "not compatible": a claim that the Thermo works with it shares
    # its other words with the positive clause, which gives 24 V.
    question = "Does the Thermo work with my 240 V baseboard heater?"
    assert not check_reply("The Nimbus Thermo works with 240 V low-voltage systems.", [THERMO], question).passed
    assert check_reply("No, the Nimbus Thermo is not compatible with 240 V baseboard heaters.", [THERMO],
                       question).passed
    assert check_reply("The Nimbus Thermo works with 24 V low-voltage systems.", [THERMO], question).passed


def test_the_stream_stops_before_a_wrong_yes_or_no():
    shown = []
    gate = SentenceGate(shown.append, [CUSTOMS], "do you ship to germany?", [])
    for piece in ["No. ", "We only ship to the UK, ", "the EU and the US. ", "Thanks."]:
        gate.feed(piece)
    assert shown == [] and gate.failed


def test_the_dev_set_good_answers_pass_and_wrong_ones_are_stopped():
    report = evaluate(current_check, load_pairs())
    total = report.total
    assert total.pairs >= 60 and len(report.classes) == 8
    assert total.pass_rate >= 0.97 and total.stop_rate >= 0.97, report.misses
    assert all(score.stop_rate >= 0.85 for score in report.classes.values()), report.table()


def test_the_held_out_pairs_keep_their_measured_rates():
    report = evaluate(current_check, load_pairs(section="held_out"))
    assert report.total.pass_rate >= 0.9 and report.total.stop_rate >= 0.85, report.misses


def test_german_and_chinese_yes_no_and_negation_are_read():
    report = evaluate(current_check, load_pairs(section="languages"))
    assert report.total.pairs >= 19
    # Measured 2026-12-05: 18/19 good passed, 18/19 wrong stopped (before German and Chinese negation: 18 and 11).
    assert report.total.pass_rate >= 0.8 and report.total.stop_rate >= 0.85, report.misses
    german_no = check_reply("Ja, geöffnete Akkus können zurückgegeben werden.",
                            ["Rückgabe\nGeöffnete Akkus können aus Sicherheitsgründen nicht zurückgegeben werden."],
                            "Kann ich geöffnete Akkus zurückgeben?")
    chinese_no = check_reply("可以，学生优惠码适用于 Nimbus Plus。",
                             ["有学生优惠吗？\n学生优惠码不能与其他优惠码同时使用，也不适用于配件和 Nimbus Plus。"],
                             "学生优惠能用于 Nimbus Plus 吗？")
    assert not german_no.passed and not chinese_no.passed


def test_durations_are_read_in_every_catalogue_language():
    days = [facts(text)[0].key for text in ("within 14 days", "innerhalb von 14 Tagen", "sous 14 jours",
                                            "en 14 días", "签收后 14 天内")]
    assert set(days) == {"number:14:day"}
    assert facts("5 个工作日")[0].key == "number:5:day" and facts("3月15日")[0].unit is None  # a date, not a month
    assert [fact.text for fact in unstated("Das Etikett ist 10 Wochen gültig.", "Das Etikett ist 10 Tage gültig.")]


def test_a_curated_opening_yes_or_no_is_kept_only_where_it_answers_the_question():
    title, answer = CUSTOMS.split("\n", 1)
    assert fitting_opening(title, answer, "Do you ship to Germany?").startswith("We only ship to the UK")
    assert fitting_opening(title, answer, "do you ship to japan") == answer  # not in the list: "No." is right
    assert fitting_opening(title, answer, title) == answer


def test_a_question_in_german_or_french_quotes_does_not_end_the_sentence():
    from dialogue.sentences import sentences

    german = "Tippen Sie auf „Passwort vergessen?“ und geben Sie Ihre E-Mail-Adresse ein. Der Link kommt sofort."
    assert sentences(german) == ["Tippen Sie auf „Passwort vergessen?“ und geben Sie Ihre E-Mail-Adresse ein.",
                                 "Der Link kommt sofort."]
    assert len(sentences("Cliquez sur « Mot de passe oublié ? » puis saisissez votre e-mail.")) == 1
    assert sentences("He said no. “Then what?” she asked.") == ["He said no.", "“Then what?” she asked."]


SUPPORT_HOURS = ("How can I contact customer support and what are your hours?\nChat and the UK line are open Monday to "
                 "Friday 08:00-20:00 and Saturday 09:00-17:00 UK time, and the US line Monday to Friday 09:00-18:00 "
                 "Eastern Time.")
CANCELLING = ("How do I cancel my contract?\nA 12-month plan can be cancelled free in its last 30 days; before that, "
              "the early termination fee is 80% of the monthly charges left.")


def test_an_aside_and_a_clause_that_points_back_keep_their_facts_bound_to_what_owns_them():
    # A bracketed aside is its own clause; a weekday opening a reply is not the subject of the next clause.
    question = "is live chat open at the weekend?"
    assert check_reply("Yes, on Saturday: chat is open 09:00-17:00 UK time (and Monday to Friday 08:00-20:00).",
                       [SUPPORT_HOURS], question).passed
    assert not check_reply("Yes, on Saturday: chat is open 09:00-18:00 UK time.", [SUPPORT_HOURS], question).passed
    # "before that, the early termination fee ..." points back to the 12-month plan: not a rival owner of its days.
    question = "can I leave my 12-month plan for free?"
    assert check_reply("On a 12-month plan an early termination fee applies if you leave before its last 30 days.",
                       [CANCELLING], question).passed
    assert not check_reply("On a 12-month plan the early termination fee is 30% of the monthly charges left.",
                           [CANCELLING], question).passed


def test_a_limit_and_an_unless_point_the_way_the_snippet_does():
    plug = ("What is the maximum load for the Nimbus Plug?\nThe US version (Type B) handles up to 15 A / 1,800 W, and "
            "each plug is sold for its region. Don't connect appliances that draw more than this rating.")
    question = "can the US plug run a space heater?"
    assert check_reply("The US Nimbus Plug handles up to 15 A / 1,800 W, so check your heater draws no more than that.",
                       [plug], question).passed
    assert not check_reply("You can connect appliances that draw more than this rating.", [plug], question).passed
    world = ("Can I use my phone outside Europe?\nOutside the EU, add a World Pass for £6 a day. Without a World Pass, "
             "data is blocked outside the EU so you never get a surprise bill.")
    question = "will my data work in New York?"
    assert check_reply("Outside the EU, data is blocked unless you add a World Pass.", [world], question).passed
    assert not check_reply("Outside the EU, data is blocked when you add a World Pass.", [world], question).passed


def test_a_denial_rests_on_every_snippet_that_backs_it():
    gift = ("Do you sell gift cards?\nYes, digital gift cards are valid for 24 months and can be combined with a "
            "discount code.")
    codes = ("How do I use a discount code?\nOnly one code can be used per order, codes can't be used to buy Nimbus "
             "Plus or gift cards, and they can't be added after an order has been placed.")
    question = "can I use a gift card and a promo code on the same order?"
    assert check_reply("Yes, gift cards can be combined with a discount code.", [gift, codes], question).passed
    assert not check_reply("Gift cards can't be combined with a discount code.", [gift, codes], question).passed


def test_a_direction_turned_the_other_way_is_stopped():
    plans = ("Can I change my plan?\nYes, in the app under Account > Plan. Moving up to a bigger plan takes effect at "
             "once and your next bill includes the difference for the rest of the month. Moving down takes effect on "
             "your next bill date.")
    question = "if I drop down to a cheaper plan, when does it kick in?"
    check = check_reply("Moving down to a smaller plan takes effect at once.", [plans], question)
    assert not check.passed and "says 'down' where the snippet says 'up'" in check.reasons[0]
    assert check_reply("Moving down to a smaller plan takes effect on your next bill date.", [plans], question).passed
    assert check_reply("Moving up to a bigger plan takes effect at once.", [plans], question).passed


def test_a_place_said_for_another_audience_is_stopped():
    stored = ("Where are my camera recordings stored?\nWith Nimbus Plus, clips are stored in our cloud in Frankfurt, "
              "Germany for UK and EU customers, and in Oregon, US for US customers, for 30 days.")
    question = "I'm in Texas, where does my footage live?"
    check = check_reply("For US customers, clips are stored in our cloud in Frankfurt, Germany.", [stored], question)
    assert not check.passed and "says Frankfurt for US customers" in check.reasons[0]
    assert check_reply("For US customers, clips are stored in our cloud in Oregon, US.", [stored], question).passed
    assert check_reply("Clips are stored in Frankfurt for customers in France.", [stored], question).passed


def test_a_place_said_to_a_customer_who_said_where_they_are_is_theirs():
    stored = ("Where are my camera recordings stored?\nWith Nimbus Plus, clips are stored in our cloud in Frankfurt, "
              "Germany for UK and EU customers, and in Oregon, US for US customers, for 30 days.")
    question = "im in texas and just signed up for plus. where does my cam footage get stored?"
    check = check_reply("With Nimbus Plus your clips are stored in our cloud in Frankfurt, Germany, for 30 days.",
                        [stored], question)
    assert not check.passed and "says Frankfurt for the customer's place" in check.reasons[0]
    assert check_reply("With Nimbus Plus your clips are stored in our cloud in Oregon, US, for 30 days.", [stored],
                       question).passed
    assert check_reply("With Nimbus Plus your clips are stored in our cloud in Frankfurt, Germany, for 30 days.",
                       [stored], "I live in Germany, where is my footage stored?").passed
    assert check_reply("With Nimbus Plus your clips are stored in our cloud in Frankfurt, Germany, for 30 days.",
                       [stored], "where is my footage stored?").passed  # no place of the customer's to go by


def test_a_fact_bound_by_a_name_every_entity_shares_is_not_named():
    reset = ("How do I factory reset a Nimbus device?\nNimbus Hub: hold the reset button on the back for 10 seconds "
             "until the light flashes amber. Nimbus Cam: hold the button next to the USB-C port for 15 seconds. Nimbus "
             "Plug: hold its button for 10 seconds until the LED turns red.")
    question = "sending my cam back, how long do i hold the button to reset it?"
    check = check_reply("Hold the button next to the USB-C port for 10 seconds, then remove it from the Nimbus app.",
                        [reset], question)
    assert not check.passed and "states 10 seconds without naming whose it is (hub, plug)" in check.reasons[0]
    assert check_reply("Hold the button next to the USB-C port for 15 seconds, then remove it from the Nimbus app.",
                       [reset], question).passed


def test_what_a_reply_says_the_customer_can_do_agrees_with_the_snippet():
    stock = ("When will an out-of-stock product be available again?\nTap 'Notify me' on the product page and we'll "
             "email you the moment it's back in stock. Restocks usually take 2 to 4 weeks. We don't take pre-orders or "
             "backorders, so items can only be bought while they're in stock.")
    question = "the thermo is sold out, can i pre order one?"
    check = check_reply("You can pre-order it from the product page.", [stock], question)
    assert not check.passed and "asserts what the snippet says the other way round" in check.reasons[0]
    assert check_reply("You can tap 'Notify me' on the product page and we'll email you when it's back in stock.",
                       [stock], question).passed
    assert check_reply("We don't take pre-orders, so you can only buy it while it's in stock.", [stock],
                       question).passed


def test_a_fact_said_with_what_the_snippet_only_denies_for_it_is_stopped():
    credit = ("Do I need a credit check?\n30-day plans need no credit check. 12-month plans need a soft credit check, "
              "which does not affect your credit score and is done in seconds when you order.")
    question = "can i get a 30 day plan without a credit check?"
    check = check_reply("Yes, 30-day plans need a soft credit check.", [credit], question)
    assert not check.passed and "asserts what the snippet says the other way round" in check.reasons[0]
    assert check_reply("No, 30-day plans need no credit check.", [credit], question).passed
    assert check_reply("12-month plans need a soft credit check.", [credit], question).passed


def test_what_a_reply_says_is_done_to_the_customer_agrees_with_the_snippet():
    data = ("What happens when I run out of data?\nOn Lite and Plus your data stops when the allowance is used up, so "
            "you are never charged for going over. Buy a 5 GB add-on for £5 in the app; it lasts until your allowance "
            "resets on your bill date.")
    question = "on lite what happens if i go over my data, do i get charged?"
    check = check_reply("On Lite, data you use beyond your allowance is charged on your next bill.", [data], question)
    assert not check.passed and "asserts what the snippet says the other way round" in check.reasons[0]
    assert check_reply("No, on Lite your data stops when the allowance is used up, so you are never charged for "
                       "going over.", [data], question).passed


def test_a_place_a_snippet_gives_one_region_is_not_said_for_another():
    customs = ("Will I have to pay customs or import duties?\nNo. We only ship to the UK, the EU and the US, and every "
               "order is sent from a warehouse inside that region (Milton Keynes for the UK, Rotterdam for the EU and "
               "Columbus, Ohio for the US), so there are no customs duties or import fees.")
    question = "where does my order to ireland ship from?"
    check = check_reply("EU orders are sent from our warehouse in Milton Keynes.", [customs], question)
    assert not check.passed and "for EU customers, which the snippet says for others" in check.reasons[0]
    assert check_reply("EU orders are sent from our warehouse in Rotterdam.", [customs], question).passed
    assert check_reply("UK orders are sent from our warehouse in Milton Keynes.", [customs], question).passed


def test_a_fact_labelled_for_one_place_is_not_said_where_the_reply_speaks_of_another():
    delivery = ("How long does delivery take and how much does shipping cost?\nUK: standard delivery takes 2-3 working "
                "days and costs £3.95 (free over £50). EU: standard takes 3-6 working days for €5.95 (free over €60).")
    question = "hey im in dublin, will i pay customs, and how much is standard shipping to me?"
    opening = "No, orders to Ireland are sent from inside the EU, so there are no customs duties or import fees."
    snippets = [CUSTOMS, delivery]
    check = check_reply(f"{opening} Standard delivery costs £3.95 and takes 2-3 working days.", snippets, question)
    assert len(check.reasons) == 1 and check.reasons[0].startswith("states £3.95") and "uk" in check.reasons[0]
    assert check_reply(f"{opening} Standard delivery costs €5.95 and takes 3-6 working days.", snippets,
                       question).passed
    assert check_reply(f"{opening} In the UK standard delivery costs £3.95.", snippets, question).passed
    assert check_reply(f"{opening} UK: standard delivery costs £3.95.", snippets, question).passed  # its label
    # the sample shop's whole FAQ, and its £50 beside the £3.95, which otherwise name the UK's price for it
    whole = ("How long does delivery take and how much does shipping cost?\nUK: standard delivery takes 2-3 working "
             "days and costs £3.95 (free over £50); express is next working day for £6.95 if you order by 14:00. EU: "
             "standard takes 3-6 working days for €5.95 (free over €60); express takes 1-3 working days for €12.95. "
             "US: standard takes 3-5 business days for $6.95 (free over $60); express takes 2 business days for "
             "$14.95.")
    check = check_reply(f"{opening} Standard delivery costs £3.95 (free over £50) and takes 2-3 working days.",
                        [CUSTOMS, whole], question)
    assert check.reasons and "which the snippet gives uk, for eu" in check.reasons[0]


def test_a_country_the_snippets_region_covers_is_not_said_to_be_unserved():
    question = "do you ship to germany?"
    for reply in ("No, we don't ship to Germany.", "Sorry, we can't deliver to Germany."):
        check = check_reply(reply, [CUSTOMS], question)
        assert not check.passed and "says Germany is not served" in check.reasons[0]
    assert check_reply("Orders to Germany are sent from a warehouse inside the EU, so there are no customs duties or "
                       "import fees on delivery to Germany.", [CUSTOMS], question).passed


def test_the_eu_and_the_us_are_places_not_stop_words():
    # "eu" is a French stop word and "us" an English one: "the EU" was dropped from the snippets' words, and
    # "Yes, we ship to Germany." found no snippet that ships to Germany's region
    assert check_reply("Yes, we ship to Germany.", [CUSTOMS], "do you ship to germany?").passed
    assert check_reply("Yes, we ship to Germany, as it is in the EU.", [CUSTOMS], "do you ship to germany?").passed
    assert not check_reply("Yes, we ship to Japan.", [CUSTOMS], "do you ship to japan?").passed


def test_a_yes_or_no_is_not_read_against_a_place_named_in_brackets():
    customs = ("Will I have to pay customs or import duties?\nNo. We only ship to the UK, the EU and the US, and every "
               "order is sent from a warehouse inside that region (Milton Keynes for the UK, Rotterdam for the EU and "
               "Columbus, Ohio for the US), so there are no customs duties or import fees.")
    question = "does my order to ireland get hit with customs? where does it ship from"
    assert check_reply("No. Orders to Ireland ship from our Rotterdam warehouse, so there are no customs duties or "
                       "import fees.", [customs], question).passed
    assert not check_reply("Yes, orders to Ireland get customs fees.", [customs], question).passed


def test_a_date_said_with_another_dates_verb_is_stopped():
    bill = ("When is my bill paid?\nYour bill is issued on the 1st of each month and paid by Direct Debit on the 8th. "
            "You can see and download every bill in the app under Account > Bills.")
    question = "When does my new bill show up in the app?"
    check = check_reply("A new bill is issued on the 8th of each month.", [bill], question)
    assert not check.passed and "says issued of the 8" in check.reasons[0]
    assert check_reply("A new bill is issued on the 1st of each month.", [bill], question).passed
    assert check_reply("Your bill is paid by Direct Debit on the 8th of each month.", [bill], question).passed


def test_a_plural_name_and_a_sentence_after_a_unit_are_read():
    plug = ("What is the maximum load for the Nimbus Plug?\nThe EU version (Type F) handles up to 16 A / 3,680 W. "
            "Don't connect appliances that draw more than this rating.")
    reply = ("The EU version of the Nimbus Plug handles up to 16 A / 3,680 W. Please don't connect appliances that "
             "draw more.")
    assert check_reply(reply, [plug], "can I run a heater on the plug in Germany?").passed
    roaming = "Can I use my phone abroad in Europe?\nRoaming is switched on for every new SIM."
    assert check_reply("Roaming is switched on for new SIMs.", [roaming], "is roaming on?").passed
    assert not check_reply("Roaming is switched on for new Vodafone SIMs.", [roaming], "is roaming on?").passed


def test_a_country_takes_the_facts_of_its_region_label():
    delivery = ("How long does delivery take?\nUK: standard takes 2-3 working days for £3.95. EU: standard takes 3-6 "
                "working days for €5.95.")
    question = "how long does delivery to spain take?"
    check = check_reply("Delivery to Spain takes 2-3 working days.", [delivery], question)
    assert not check.passed and "another entity" in check.reasons[0]
    assert check_reply("Standard delivery to Spain takes 3-6 working days and costs €5.95.", [delivery],
                       question).passed
    assert check_reply("Standard delivery to Scotland takes 2-3 working days.", [delivery],
                       "how long to scotland?").passed


def test_a_country_the_customer_named_is_checked_against_the_places_served():
    customs = ("Will I have to pay customs?\nNo. We only ship to the UK, the EU and the US, from a warehouse inside "
               "that region (Rotterdam for the EU), so there are no customs duties. We don't ship to any other "
               "countries.")
    question = "do you ship to japan or switzerland?"
    check = check_reply("We ship to Japan and the UK.", [customs], question)
    assert not check.passed and "names Japan as served" in check.reasons[0]
    assert not check_reply("Orders to Switzerland are sent from Rotterdam, so there are no customs duties.",
                           [customs], question).passed
    assert check_reply("We don't ship to Japan: we only ship to the UK, the EU and the US.", [customs],
                       question).passed
    assert check_reply("Orders to Spain are sent from Rotterdam, so there are no customs duties.", [customs],
                       "do you ship to spain?").passed
    world = ("Can I use my phone outside Europe?\nOutside the EU, add a World Pass in the app for £6 a day: it "
             "covers 60 countries, including the USA and Canada.")
    assert check_reply("In Japan, add a World Pass in the app for £6 a day.", [world], "roaming in japan?").passed


def test_a_trailing_not_is_the_polarity_of_what_follows_it():
    student = ("Is there a student discount?\nStudents get 15% off the Plus and Unlimited plans. The discount is not "
               "available on Lite.")
    question = "can i get the student discount on lite?"
    assert check_reply("Sorry, the 15% student discount only applies to the Plus and Unlimited plans, not Lite.",
                       [student], question).passed
    check = check_reply("The 15% student discount applies to the Lite and Unlimited plans, not Plus.", [student],
                        question)
    assert not check.passed and "other way round" in check.reasons[0]


def test_a_plan_named_by_an_adjective_is_not_named():
    plans = ("What plans do you have?\nLite has 10 GB of data for £8 a month, Plus has 50 GB for £14 a month and "
             "Unlimited has unlimited data for £22 a month.")
    question = "which plan has unlimited data?"
    check = check_reply("Plus has unlimited data for £22 a month.", [plans], question)
    assert not check.passed and "another entity" in check.reasons[0]
    assert check_reply("For unlimited data, choose Unlimited at £22 a month.", [plans], question).passed


def test_a_day_or_a_month_is_checked_against_the_snippets_days_and_months():
    contact = ("How can I contact support?\nChat and the UK line are open Monday to Friday 08:00-20:00 and Saturday "
               "09:00-17:00 UK time, and the US line Monday to Friday 09:00-18:00 Eastern Time. We answer emails "
               "within 24 hours, including weekends.")
    question = "is your phone line open on sundays?"
    check = check_reply("Yes, the UK line is open on Sundays.", [contact], question)
    assert not check.passed and "says Sunday" in check.reasons[0]
    assert not check_reply("The US line is open on Saturdays.", [contact], question).passed
    assert not check_reply("The UK line is open every day.", [contact], question).passed
    assert check_reply("Chat is open on Saturdays from 09:00 to 17:00.", [contact], question).passed
    assert check_reply("We answer emails on Sundays within 24 hours.", [contact], "when are you open?").passed
    assert check_reply("No, the UK line is open Monday to Friday and on Saturday.", [contact], question).passed
    rise = "Will my price go up?\nMonthly prices rise by a fixed £1.50 every April."
    check = check_reply("Yes, prices rise by £1.50 every March.", [rise], "do prices go up in march?")
    assert not check.passed and "says March" in check.reasons[0]
    assert check_reply("No, prices rise by £1.50 every April, not in March.", [rise],
                       "do prices go up in march?").passed


def test_a_brands_name_the_customer_used_is_checked_against_the_brands_names():
    devices = ("What devices do you sell?\nWe sell the Nimbus Hub, Nimbus Cam, Nimbus Thermo and Nimbus Plug, plus "
               "accessories such as mounts and cables.")
    check = check_reply("Yes, we sell the Nimbus Doorbell.", [devices], "do you sell the Nimbus Doorbell?")
    assert not check.passed and "Nimbus Doorbell" in check.reasons[0]
    assert check_reply("Yes, we sell the Nimbus Cam.", [devices], "do you sell the Nimbus Cam?").passed


def test_a_fact_said_with_its_own_topic_named_is_not_moved():
    port = ("Can I keep my number when I join?\nText PAC to 65075 from your old provider's phone to get your porting "
            "code; it is free and valid for 30 days. Your number moves over on the next working day.")
    question = "I want to join but keep my current number"
    assert check_reply("To keep your current number, text PAC to 65075 from your old provider's phone.", [port],
                       question).passed
    assert not check_reply("Your number moves over within 30 days.", [port], question).passed


def test_a_negation_inside_a_condition_is_not_the_clauses():
    thermo = ("Is the Nimbus Thermo compatible with my wiring?\nIt needs a C (common) wire; if you don't have one, use "
              "the Power Adapter Kit included in the box. It is not compatible with baseboard heaters.")
    question = "what if I don't have a C wire?"
    assert check_reply("If you don't have a C wire, you can use the Power Adapter Kit included in the box.", [thermo],
                       question).passed
    assert not check_reply("If you don't have a C wire, you can't use the Power Adapter Kit included in the box.",
                           [thermo], question).passed
    reset = ("How do I reset my password?\nWe'll send a reset link that is valid for 60 minutes. If it hasn't arrived "
             "within 10 minutes, check your spam folder or request a new one.")
    question = "the link never arrived"
    assert check_reply("The link never arrived within 10 minutes. Check your spam folder or request a new one.",
                       [reset], question).passed
    assert not check_reply("If it has arrived within 10 minutes, check your spam folder.", [reset], question).passed
    # The snippet's condition with a consequence it gives another case (SmolLM2, the sample shop's eval).
    thermo += " You can check your setup with the compatibility checker at https://help.nimbushome.example/thermo."
    check = check_reply("If you don't have one, you can check your setup with the compatibility checker at "
                        "https://help.nimbushome.example/thermo.", [thermo], "will the thermostat work on its own?")
    assert not check.passed and "what it says of another case" in check.reasons[0]


def test_a_verb_that_opens_another_clause_moves_no_fact():
    track = ("How can I track my order?\nAs soon as your order ships we email you a tracking link. You can also follow "
             "it at https://help.nimbushome.example/track with your order number. We ship with Royal Mail in the UK, "
             "and the first tracking update can take up to 24 hours to appear after dispatch.")
    question = "Can I track my parcel without the app?"
    assert check_reply("Use the tracking link we email you when your order ships, or go to "
                       "https://help.nimbushome.example/track with your order number.", [track], question).passed
    invoices = ("How do I delete my account?\nCloud recordings are deleted immediately and your personal data within "
                "30 days, but we keep order and invoice records for 7 years as required by tax law.")
    question = "How long do you keep my invoices?"
    assert not check_reply("We keep order and invoice records for 30 days.", [invoices], question).passed
    assert check_reply("We keep order and invoice records for 7 years.", [invoices], question).passed


def test_what_the_customer_told_may_be_said_back_in_a_condition_and_the_rest_is_checked():
    missed = ("What happens if I miss a payment?\nWe email and text you a reminder and try the Direct Debit again "
              "after 5 days. If the bill is still unpaid 14 days after the due date, outgoing calls and data are "
              "barred.")
    question = "I had no money in the bank on the 8th, what will happen?"
    # Qwen2.5-Coder-1.5B's reply (mobile operator as plain questions), stopped for the customer's own "8th" before.
    assert check_reply("If you had no money in the bank on the 8th, we email and text you a reminder and try the "
                       "Direct Debit again after 5 days.", [missed], question).passed
    for wrong in ["If you had no money in the bank on the 8th, we charge a £15 fee.",  # a fact of its own
                  "If you had no money in the bank on the 9th, we email and text you a reminder.",  # not what was told
                  "If you had no money in the bank on the 8th, you get nothing from us at all."]:  # unsupported
        assert not check_reply(wrong, [missed], question).passed, wrong
    roaming = ("How much does roaming cost?\nRoaming in the EU: on the Basic plan it costs $5 per day; on the Premium "
               "plan roaming is included at no extra cost.")
    question = "If I'm on the Premium plan, what does roaming in the EU cost?"
    assert check_reply("If you're on the Premium plan, roaming in the EU is included at no extra cost.", [roaming],
                       question).passed
    check = check_reply("If you're on the Premium plan, roaming in the EU costs $5 per day.", [roaming], question)
    assert not check.passed and "another entity" in check.reasons[0]  # the premise still binds the fact


def test_a_yes_to_a_question_no_snippet_addresses_is_cut_and_the_rest_checked():
    student = ("Is there a student discount?\nStudents get 15% off the Plus and Unlimited plans. Verify with your "
               "university email address before you order.")
    question = "I'm at uni, are there reduced prices for me?"  # shares no word with the snippet
    reply = "Yes, students get 15% off the Plus and Unlimited plans."
    assert not check_reply(reply, [student], question).passed
    assert tidied(reply, [student], question) == "Students get 15% off the Plus and Unlimited plans."
    assert check_reply(tidied(reply, [student], question), [student], question).passed
    wrong = tidied("Yes, students get 50% off every plan.", [student], question)
    assert wrong == "Students get 50% off every plan." and not check_reply(wrong, [student], question).passed
    assert tidied("Yes.", [student], question) == ""
    # A yes or no the snippet does address is not cut: a copied "No." is stopped, as before.
    shipping = "Do you ship internationally?\nWe only ship to the UK, the EU and the US."
    copied = "No. We only ship to the UK, the EU and the US."
    assert tidied(copied, [shipping], "do you ship to germany?") == copied
    assert not check_reply(copied, [shipping], "do you ship to germany?").passed


def test_courtesy_needs_no_snippet_and_is_no_answer():
    returns = "How do I return a device?\nYou can return any Nimbus device within 30 days of delivery."
    question = "the cam arrived broken, can I send it back?"
    assert check_reply("Sorry to hear that! You can return any Nimbus device within 30 days of delivery. "
                       "I hope this helps.", [returns], question).passed
    assert check_reply("Sorry to hear that! Happy to help.", [returns], question).reasons == ["says nothing"]
    assert not check_reply("Good news: you can return it within 90 days.", [returns], question).passed
    assert not check_reply("Unfortunately not.", [returns], question).passed  # a no, not courtesy


def test_a_joining_plus_is_not_the_plus_plan():
    plans = ("How much do the SIM-only plans cost?\nLite has 10 GB of data for £8 a month, Plus has 50 GB for £14 a "
             "month and Unlimited has unlimited data for £22 a month. Every plan includes unlimited UK minutes and "
             "texts and 5G at no extra cost.")
    question = "how much is the unlimited data one a month"
    assert check_reply("Unlimited is £22 a month and gives you unlimited data, plus unlimited UK minutes and texts "
                       "and 5G at no extra cost.", [plans], question).passed
    assert not check_reply("Plus costs £22 a month.", [plans], question).passed
    assert not check_reply("Unlimited is £14 a month, plus unlimited UK minutes.", [plans], question).passed


def test_a_numbered_list_is_checked_item_by_item_after_its_lead_in():
    reset = ("How do I factory reset a Nimbus device?\nPress and hold the reset button for 10 seconds until the light "
             "flashes red. Then add the device again in the Nimbus app.")
    question = "hub is misbehaving, how do I reset it completely"
    # Qwen2.5-Coder-1.5B's way of answering (the sample shop): a lead-in, then numbered steps.
    steps = ("To reset your Nimbus Hub completely, follow these steps:\n1. Press and hold the reset button for 10 "
             "seconds until the light flashes red.\n2. Add the device again in the Nimbus app.")
    assert check_reply(steps, [reset], question).passed
    assert check_reply(steps.replace("10 seconds", "30 seconds"), [reset], question).reasons == [
        "states 30 seconds, which no snippet says: 'Press and hold the reset button for 30 seconds until the light "
        "flashes red.'"]
    assert check_reply("To reset your Nimbus Hub completely, follow these steps:", [reset], question).reasons == [
        "says nothing"]
    assert not check_reply("To get a refund, follow these steps:\n1. Press and hold the reset button.", [reset],
                           question).passed  # a lead-in of its own words is a claim


def test_an_imperative_after_a_colon_is_no_name_and_a_place_is():
    lines = ("Do you give a discount for several lines on one account?\nEvery extra line on your account gets 20% off. "
             "Open the app and go to Account > Add a line.")
    question = "and for adding my brother's SIM to my account?"
    assert check_reply("You can add his SIM by following these steps: Open the app and go to Account > Add a line.",
                       [lines], question).passed  # Qwen2.5-Coder-1.5B's reply; "Open" was read as a name
    shipping = "Where do you ship to?\nWe ship to the UK, the EU and the US."
    check = check_reply("We ship to: Japan and the UK.", [shipping], "where do you ship to?")
    assert not check.passed and "Japan" in check.reasons[0]


def test_a_reply_with_nothing_a_snippet_can_back_is_stopped():
    hours = ("How can I contact customer support and what are your hours?\nCall +44 20 7946 0000, open Monday to "
             "Friday 08:00-20:00 and Saturday 09:00-17:00 UK time.")
    question = "Are you open on Saturdays?"
    for bare in ["I'm not.", "Yes.", "It is."]:  # SmolLM2's whole replies, seen on the sample shop
        assert check_reply(bare, [hours], question).reasons == ["says nothing a snippet can back"], bare
    assert check_reply("Yes, on Saturday 09:00-17:00 UK time.", [hours], question).passed


def test_the_blind_pairs_keep_their_measured_rates():
    # Written by someone who had not read the check; first run 27/40 good passed, 32/40 stopped.
    report = evaluate(current_check, load_pairs(section="held_out_blind"))
    assert report.total.pairs == 40
    assert report.total.pass_rate >= 0.85 and report.total.stop_rate >= 0.9, report.misses
    # The second batch, kept unread while the check changed on the first, run once: 23/40 good passed (22 before
    # the session's changes), 37/40 wrong stopped (36).
    second = evaluate(current_check, load_pairs(section="held_out_blind_2"))
    assert second.total.pairs == 40
    assert second.total.pass_rate >= 0.55 and second.total.stop_rate >= 0.9, second.misses
    # The third, by a third writer, run once with the check as it was then: 22/40 passed, 38/40 stopped.
    third = evaluate(current_check, load_pairs(section="held_out_blind_3"))
    assert third.total.pairs == 40
    assert third.total.pass_rate >= 0.55 and third.total.stop_rate >= 0.9, third.misses
    # The fourth, by a fourth writer whose good answers reason more, run once at 82330ef: 11/40 passed, 39/40 stopped.
    fourth = evaluate(current_check, load_pairs(section="held_out_blind_4"))
    assert fourth.total.pairs == 40
    assert fourth.total.pass_rate >= 0.3 and fourth.total.stop_rate >= 0.95, fourth.misses
    # The fifth, with honest "not covered" answers (class unbacked), run once at d29707d: 9/40 passed, 34/40 stopped.
    fifth = evaluate(current_check, load_pairs(section="held_out_blind_5"))
    assert fifth.total.pairs == 40
    assert fifth.total.pass_rate >= 0.45 and fifth.total.stop_rate >= 0.95, fifth.misses
    # The sixth, written after the fifth's rules and never tuned on: 5/40 and 34/40 at d29707d, 10/40 and 35/40 then.
    sixth = evaluate(current_check, load_pairs(section="held_out_blind_6"))
    assert sixth.total.pairs == 40
    assert sixth.total.pass_rate >= 0.25 and sixth.total.stop_rate >= 0.9, sixth.misses
    # The seventh, with the classes and more composition, run once at 01c8aaf: 21/40 passed, 31/40 stopped;
    # then tuned on. The eighth, its held-out twin, run once with the session's rules: 25/40 and 36/40 (34 before).
    seventh = evaluate(current_check, load_pairs(section="held_out_blind_7"))
    assert seventh.total.pairs == 40
    assert seventh.total.pass_rate >= 0.5 and seventh.total.stop_rate >= 0.85, seventh.misses
    eighth = evaluate(current_check, load_pairs(section="held_out_blind_8"))
    assert eighth.total.pairs == 40
    assert eighth.total.pass_rate >= 0.6 and eighth.total.stop_rate >= 0.9, eighth.misses
