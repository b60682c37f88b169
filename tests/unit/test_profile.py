import pytest

from dialogue.profile import (
    Profile, ProfileField, answer_profile_question, asked_profile_field, is_only_self_description,
)
from dialogue.self_description import extract_profile

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "name", "email", "phone", "orders"),
    [
        ("my name is alice", "Alice", None, None, []),
        ("Hi, my name is Bob Smith and I need help", "Bob Smith", None, None, []),
        ("I'm Ann", "Ann", None, None, []),
        ("I'm having trouble with my hub", None, None, None, []),
        ("This is urgent, my camera is offline", None, None, None, []),
        ("call me at +44 20 7946 0000", None, None, "+44 20 7946 0000", []),
        ("reach me on bob.smith+shop@mail.example.co.uk", None, "bob.smith+shop@mail.example.co.uk", None, []),
        ("My order number is NH-48213, where is it?", None, None, None, ["NH-48213"]),
        ("order #123456 and order 998877 are late", None, None, None, ["123456", "998877"]),
        ("you can reach me at ann@example.org", None, "ann@example.org", None, []),
        ("My phone number is 07700 900123", None, None, "07700 900123", []),
        # Someone else's address, or a number that is not a phone: not the customer's profile.
        ("forward this to my boss at boss@corp.example", None, None, None, []),
        ("My Amex card is 3782 822463 10005", None, None, None, []),
        ("my phone number is 3782 822463 10005", None, None, None, []),  # Luhn-valid: a card, never a phone
        ("the shop's number is 0800 123 456, is that right?", None, None, None, []),
        ("my email is ann@example.org, cc my boss at boss@corp.example", None, "ann@example.org", None, []),
    ],
)
def test_extracts_what_customers_say_about_themselves(text, name, email, phone, orders):
    update = extract_profile(text)
    assert (update.name, update.email, update.phone, update.order_numbers) == (name, email, phone, orders)


def test_an_order_number_is_not_mistaken_for_a_phone_number():
    update = extract_profile("my order 12345678 has not arrived")
    assert update.order_numbers == ["12345678"] and update.phone is None


def test_self_description_alone_is_told_apart_from_a_question():
    assert is_only_self_description(extract_profile("Hello, my name is Ann"))
    assert not is_only_self_description(extract_profile("My name is Ann, how do I reset my hub?"))
    assert extract_profile("My name is Ann, how do I reset my hub?").remainder == "how do I reset my hub?"


@pytest.mark.parametrize(
    ("question", "field"),
    [("what's my name?", ProfileField.NAME), ("Do you remember my name", ProfileField.NAME),
     ("What email do you have for me?", ProfileField.EMAIL), ("what is my phone number", ProfileField.PHONE),
     ("what are my order numbers?", ProfileField.ORDER), ("what is your name?", None),
     ("How do I change my email?", None)],
)
def test_recognises_profile_questions(question, field):
    assert asked_profile_field(question) == field


def test_answers_from_the_profile_or_says_what_is_missing():
    known = Profile("Ann", "ann@example.org", None, ["NH-1"])
    assert answer_profile_question(ProfileField.NAME, known) == "Your name is Ann."
    assert "ann@example.org" in answer_profile_question(ProfileField.EMAIL, known)
    assert "don't have your phone" in answer_profile_question(ProfileField.PHONE, known)
