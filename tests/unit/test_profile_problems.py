"""A message that states a problem and carries an identifier is a problem to answer, not only a fact to note."""

import pytest

from dialogue.profile import is_only_self_description, search_text
from dialogue.self_description import extract_profile

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("message, searched", [
    ("I was charged twice for my order NH-10293", "I was charged twice for my order"),
    ("My order NH-55555 never arrived", "My order never arrived"),
    ("order #123456 and order 998877 are late", "order # and order are late"),
    ("My order number is NH-48213, where is it?", "where is it?"),
])
def test_a_problem_with_an_identifier_is_searched_without_the_identifier(message, searched):
    update = extract_profile(message)
    assert update.order_numbers and not is_only_self_description(update)
    assert search_text(message, update) == searched


@pytest.mark.parametrize("message", [
    "Hello, my name is Ann", "Hi, my name is Bob Smith and I need help", "This is Ann from London",
    "My name is Ann, nice to meet you", "my phone number is 07700 900123", "My order number is NH-48213",
    "you can reach me at ann@example.org",
])
def test_a_self_description_alone_is_still_only_noted(message):
    assert is_only_self_description(extract_profile(message))
