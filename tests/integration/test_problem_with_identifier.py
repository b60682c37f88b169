"""A message that states a problem and carries an order number (issue 24): answered as a problem through the REST
webhook, and the number is remembered too. Both databases."""

import pytest
from sqlalchemy import select

from dialogue.records import ConversationRecord
from tests.conftest import chat

pytestmark = pytest.mark.integration


def profile_of(services, conversation_id: int):
    with services.sessions() as session:
        customer_id = session.scalar(select(ConversationRecord.customer_id)
                                     .where(ConversationRecord.id == conversation_id))
    return services.manager.store.profile(customer_id)


def test_a_problem_with_an_order_number_is_answered_and_the_number_noted(client, services, sender):
    reply = chat(client, sender, "I was charged twice for my order NH-10293")
    assert reply["custom"]["kind"] != "action" and "noted" not in reply["text"]
    if reply["custom"]["kind"] == "faq":  # the payment FAQ answers it; which one depends on the calibration
        assert reply["custom"]["sources"][0]["title"] == "What should I do if my payment failed?"
    assert profile_of(services, reply["custom"]["conversation_id"]).order_numbers == ["NH-10293"]


def test_the_number_alone_is_still_acknowledged(client, services, sender):
    reply = chat(client, sender, "My order number is NH-48213")
    assert reply["custom"]["kind"] == "action" and "NH-48213" in reply["text"]
