"""Facts a reply works out from the snippets and the customer's message (dialogue/derived_facts.py), through the reply
check: worked out right they pass, worked out wrong or not shown they are stopped as invented."""

import pytest

from dialogue.grounding import check_reply

pytestmark = pytest.mark.unit

DISPATCH = ("When will my order ship?\nOrders placed by 14:00 on a working day are dispatched the same day; later "
            "orders ship the next working day. UK express delivery is next working day for £6.95.")
BILL = ("When is my bill paid?\nYour bill is paid by Direct Debit on the 8th of each month. If it is unpaid 14 days "
        "after the due date, calls are barred.")
PLUG = "What is the maximum load for the Nimbus Plug?\nThe EU version handles up to 3,680 W."


def test_a_customers_fact_compared_rightly_with_the_snippets_passes():
    question = "I ordered at 11am on Tuesday, when will it ship?"
    assert check_reply("11am is before the 14:00 cut-off, so your order is dispatched the same day.", [DISPATCH],
                       question).passed
    check = check_reply("11am is after the 14:00 cut-off, so your order ships the next working day.", [DISPATCH],
                        question)
    assert not check.passed and "states 11am" in check.reasons[0]
    late = "I ordered at 3pm, when will it ship?"
    assert check_reply("3pm is after the 14:00 cut-off, so your order ships the next working day.", [DISPATCH],
                       late).passed
    assert not check_reply("3pm is before the 14:00 cut-off, so your order is dispatched the same day.", [DISPATCH],
                           late).passed
    heater = "can the plug run a 2,500 W heater?"
    assert check_reply("The EU version handles up to 3,680 W, so a 2,500 W heater is within that.", [PLUG],
                       heater).passed
    assert not check_reply("The EU version handles up to 3,680 W, so a 4,000 W heater is within that.", [PLUG],
                           "can the plug run a 4,000 W heater?").passed


def test_a_fact_only_the_customer_said_is_not_made_true_by_a_comparison_word():
    # No fact of the snippets to compare with: the customer's 2,500 W stays the customer's.
    assert not check_reply("The EU version handles a 2,500 W heater, which is within its rating.",
                           [PLUG.replace("up to 3,680 W", "heaters")], "can the plug run a 2,500 W heater?").passed


def test_a_sum_the_sentence_shows_passes_and_a_wrong_one_is_invented():
    question = "when are my calls barred?"
    assert check_reply("Your bill is due on the 8th, so calls are barred if it is unpaid 14 days later, on the 22nd.",
                       [BILL], question).passed
    check = check_reply("Your bill is due on the 8th, so calls are barred if it is unpaid 14 days later, on the "
                        "23rd.", [BILL], question)
    assert not check.passed and "states 23rd" in check.reasons[0]
    # The same number with no working shown is invented.
    assert not check_reply("Calls are barred on the 22nd.", [BILL], question).passed


def test_the_next_working_day_after_a_weekday_is_worked_out():
    question = "If I order express on a Friday, when does it arrive?"
    assert check_reply("Express delivery is next working day, so a Friday order arrives on Monday.", [DISPATCH],
                       question).passed
    assert check_reply("Express delivery is next working day, so it arrives on Monday.", [DISPATCH], question).passed
    check = check_reply("Express delivery is next working day, so a Friday order arrives on Saturday.", [DISPATCH],
                        question)
    assert not check.passed and "names Saturday" in check.reasons[0]
    assert not check_reply("Express delivery arrives on Monday.", [DISPATCH], question).passed


def test_a_customers_time_inside_or_outside_a_range_and_a_share_of_a_price():
    hours = "When can I call you?\nPhone support on 0800 555 0100 is open every day from 8:00 to 22:00."
    assert check_reply("You can call 0800 555 0100 every day from 8:00 to 22:00, so 9:30pm is fine.", [hours],
                       "can I call at 9:30pm?").passed
    assert not check_reply("You can call 0800 555 0100 every day from 8:00 to 22:00, so 10:30pm is fine.", [hours],
                           "can I call at 10:30pm?").passed
    assert not check_reply("Phone support is open from 8:00 to 22:00, so it will not be open at 9:30pm.", [hours],
                           "can I call at 9:30pm?").passed
    student = "Is there a student discount?\nStudents get 15% off Plus and Unlimited. Plus costs £14 a month."
    question = "how much is plus for students?"
    assert check_reply("With the 15% student discount, Plus would come down from £14 to £11.90 a month.", [student],
                       question).passed
    check = check_reply("With the 15% student discount, Plus would come down from £14 to £11.50 a month.", [student],
                        question)
    assert not check.passed and "£11.50" in check.reasons[0]


def test_a_sum_may_use_a_fact_of_the_replys_earlier_sentence():
    student = "Is there a student discount?\nStudents get 15% off Plus and Unlimited. Plus costs £14 a month."
    question = "how much is plus for students?"
    right = check_reply("Students get 15% off Plus. With it, Plus at £14 a month comes down to £11.90 a month.",
                        [student], question)
    assert not any(reason.startswith("states") for reason in right.reasons)
    wrong = check_reply("Students get 15% off Plus. With it, Plus at £14 a month comes down to £11.50 a month.",
                        [student], question)
    assert not wrong.passed and "£11.50" in wrong.reasons[0]
    alone = check_reply("With it, Plus costs £14 a month, so £11.90 a month.", [student], question)
    assert not alone.passed and "£11.90" in alone.reasons[0]


def test_a_period_without_a_count_is_not_a_snippets_counted_one():
    codes = "Can I get a student code?\nCodes are single-use and you can request a new one every 6 months."
    question = "how often can I get a code?"
    check = check_reply("You can request a new one every month.", [codes], question)
    assert not check.passed and "every 6 months" in check.reasons[0]
    assert check_reply("You can request a new one every 6 months.", [codes], question).passed
    bill = "When is my bill issued?\nYour bill is issued on the 1st of each month and costs £14 a month."
    assert check_reply("Your bill is issued every month, on the 1st.", [bill], "when do I get a bill?").passed


PLUS_PRICES = "How much does Nimbus Plus cost?\nNimbus Plus costs $5.99 a month or $59.99 a year."
LEAVING = ("How do I leave my contract?\nThe early termination fee is 80% of the monthly charges left.\n\n"
           "How much do the plans cost?\nUnlimited is £22 a month.")
ACCESSORIES = "How do I return an accessory?\nAccessories can be returned within 14 days of delivery, if unused."


def test_a_product_a_year_and_a_chain_of_working_are_worked_out_again():
    question = "how much do i actually save paying yearly for nimbus plus vs monthly?"
    assert check_reply("Monthly is $5.99, which is $71.88 over a year, while the annual plan is $59.99, so paying "
                       "yearly saves you $11.89.", [PLUS_PRICES], question).passed
    assert not check_reply("Monthly is $5.99, which is $71.88 over a year, while the annual plan is $59.99, so paying "
                           "yearly saves you $15.89.", [PLUS_PRICES], question).passed
    leave = "I'm on unlimited and have 4 months left. how much is the fee?"
    said = ("The early termination fee is 80% of the monthly charges left. With 4 months of Unlimited at £22 left, "
            "that's £88, so the fee would be £{}.")
    assert check_reply(said.format("70.40"), [LEAVING], leave, best_first=False).passed
    assert not check_reply(said.format("74.40"), [LEAVING], leave, best_first=False).passed


def test_the_customers_amounts_add_up_and_a_date_moves_on_by_the_snippets_days():
    shop = "How much is delivery?\nUK standard delivery is £3.95, free on orders over £50."
    question = "uk here. can i get free delivery if i buy a plug at £24.99 and a wall mount at £19.99?"
    assert check_reply("Those two come to £44.98, which is just under the £50 threshold, so UK standard delivery "
                       "would be £3.95.", [shop], question).passed
    assert not check_reply("Those two come to £49.98, which is just under the £50 threshold, so UK standard delivery "
                           "would be £3.95.", [shop], question).passed
    late = "got a usb cable delivered on 2 june, never opened. can i still return it?"
    said = ("Accessories can be returned within 14 days of delivery, so for a delivery on 2 June that ran out on "
            "{} June.")
    assert check_reply(said.format(16), [ACCESSORIES], late).passed
    assert not check_reply(said.format(18), [ACCESSORIES], late).passed


def test_a_customers_duration_compares_across_units_and_clauses():
    bills = "Can you look at a charge?\nWe look into a charge if you message us within 60 days of the bill."
    question = "there's a charge from about 4 months back i dont recognise"
    assert check_reply("We look into a charge if you message us within 60 days of the bill, and 4 months is past "
                       "that.", [bills], question).passed
    assert not check_reply("We look into a charge if you message us within 60 days of the bill, and 4 months is "
                           "within that.", [bills], question).passed
    refund = "Can I get a refund?\nIf you cancel within 14 days of your first paid charge you get a full refund."
    told = "got charged 5 days ago, can i get that money back?"
    assert check_reply("Yes: if you cancel within 14 days of your first paid charge you get a full refund, and you're "
                       "at 5 days.", [refund], told).passed
    assert not check_reply("Yes: if you cancel within 14 days of your first paid charge you get a full refund, and "
                           "you're at 20 days.", [refund], told.replace("5 days", "20 days")).passed
