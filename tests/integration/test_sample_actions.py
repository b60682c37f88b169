"""The sample shop's action server (bot/sample/actions.py) and declarations (actions.yaml), as README shows."""

import pytest

from bot.cli.actions import SAMPLE_ACTIONS
from retrieval.declared_actions.files import read_action_file
from tests.integration.test_actions import action_server, client, database, new_sender, say, services, settings  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def actions_module() -> str:
    return "bot.sample.actions"


def test_order_status_then_cancel_on_the_sample_shop(client, services):
    for draft in read_action_file(SAMPLE_ACTIONS).drafts:
        services.knowledge.actions.upsert(draft)
    sender = new_sender()
    [asked] = say(client, sender, "Where is my order?")
    assert asked["text"].startswith("What is your order number?")
    unknown = say(client, sender, "NH-99999", replies=2)
    assert unknown[0]["text"] == "We have no order NH-99999." and unknown[1]["text"] == asked["text"]
    [email] = say(client, sender, "nh-10277")
    assert email["text"] == "Which email address did you place the order with?"
    [status] = say(client, sender, "ann@example.com")
    assert status["text"] == "Order NH-10277 is being packed at our warehouse."
    [button] = status["buttons"]
    [cancelled] = say(client, sender, button["payload"])
    assert cancelled["text"] == "Order NH-10277 is cancelled. Your refund starts today."
    [shipped] = say(client, new_sender(), '/action_cancel_order{"order_number": "NH-10234"}')
    assert "already shipped, so it can't be cancelled" in shipped["text"]
