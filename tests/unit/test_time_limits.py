"""A snippet's time limit that the customer's case is past, left out of a reply (dialogue/time_limits.py), through the
reply check."""

import pytest

from dialogue.grounding import check_reply

pytestmark = pytest.mark.unit

ORDER = ("Can I change my order?\nYou can change the delivery address or cancel the order yourself within 1 hour of "
         "ordering, as long as it hasn't been dispatched: go to Account > Orders > Manage order. After that, contact "
         "support and we'll try to stop it before it ships.")
RETURNS = ("How do I return a device?\nYou can return any Nimbus device within 30 days of delivery for any reason. "
           "Start the return at https://help.nimbushome.example/returns to get a free label.")


@pytest.mark.parametrize("question, reply, snippet", [
    ("ordered like 3 hrs ago, can i fix the address myself?", "Yes, as long as it hasn't been dispatched yet you can "
     "change the delivery address yourself under Account > Orders > Manage order.", ORDER),
    ("bought my cam 5 weeks ago and don't like it, can I return it?", "Yes, you can return any Nimbus device for "
     "any reason: start the return at https://help.nimbushome.example/returns to get a free label.", RETURNS),
    ("had the hub for 2 months now, can I return it?", "Of course, you can return any Nimbus device for any reason.",
     RETURNS),
])
def test_a_yes_that_leaves_out_a_limit_the_customer_is_past_is_stopped(question, reply, snippet):
    check = check_reply(reply, [snippet], question)
    assert not check.passed and "leaves out the snippet's limit" in check.reasons[0]


@pytest.mark.parametrize("question, reply, snippet", [
    # Inside the limit, the limit said, or no time gone by told.
    ("ordered like 20 minutes ago, can i fix the address myself?", "Yes, as long as it hasn't been dispatched yet "
     "you can change the delivery address yourself under Account > Orders > Manage order.", ORDER),
    ("ordered 3 hrs ago, can i fix the address myself?", "You can change the address yourself only within 1 hour of "
     "ordering, so at 3 hrs that has passed: contact support and we'll try to stop it before it ships.", ORDER),
    ("can I return my cam?", "Yes, you can return any Nimbus device for any reason.", RETURNS),
    ("is there a 3-year warranty if I return it?", "You can return any Nimbus device for any reason.", RETURNS),
])
def test_a_limit_the_customer_is_within_or_that_the_reply_says_passes(question, reply, snippet):
    assert not any("limit" in reason for reason in check_reply(reply, [snippet], question).reasons)


PLUS = ("How do I cancel Nimbus Plus?\nGo to Account > Subscription > Cancel Nimbus Plus. Your benefits continue until "
        "the end of the current billing period and we don't refund partial periods, except that a cancellation "
        "within 14 days of your first paid charge is refunded in full.")


def test_a_no_that_leaves_out_an_exception_the_customer_is_within_is_stopped():
    reply = ("You can cancel under Account > Subscription > Cancel Nimbus Plus, but we don't refund partial periods, "
             "so you won't get that charge back.")
    check = check_reply(reply, [PLUS], "trial ended and i got charged 5 days ago, can i get that money back?")
    assert not check.passed and "except within 14 days" in check.reasons[0]
    assert check_reply(reply, [PLUS], "trial ended and i got charged 3 weeks ago, can i get that money back?").passed


def test_a_validity_is_a_limit_too():
    reset = ("How do I reset my password?\nTap 'Forgot password?' and we email you a link, which is valid for 60 "
             "minutes.")
    check = check_reply("Yes, just tap the link we emailed you to reset your password.", [reset],
                        "got the reset email about 3 hours ago, can I still use the link?")
    assert not check.passed and "60 minutes" in check.reasons[0]
    assert check_reply("Yes, just tap the link we emailed you to reset your password.", [reset],
                       "got the reset email 10 minutes ago, can I still use the link?").passed
