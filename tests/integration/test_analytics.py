"""GET /admin/analytics on a scripted set of conversations whose true counts are known (docs/analytics.md).

The conversations are held through the real chat routes (REST and the widget), then moved to fixed days
in 2020 with scripted turn times, so that other tests' conversations cannot touch the figures and every
time is exact.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from dialogue.records import ConversationRecord, TurnRecord
from tests.conftest import chat

pytestmark = pytest.mark.integration

DAY1 = datetime(2020, 2, 3, 9, 0, tzinfo=UTC)
DAY2 = datetime(2020, 2, 4, 15, 30, tzinfo=UTC)
PERIOD = {"from": "2020-02-02", "to": "2020-02-05"}


def widget_chat(client, sender: str, message: str) -> dict:
    response = client.post("/widget/messages", json={"sender": sender, "message": message})
    assert response.status_code == 200, response.text
    replies = [json.loads(line[len("data: "):]) for line in response.text.splitlines() if line.startswith("data: ")
               and '"recipient_id"' in line]
    assert len(replies) == 1
    return replies[0]


def move(services, conversation_id: int, start: datetime, offsets: list[float], still_open: bool = False) -> None:
    """Give the conversation's turns the times start + offsets (seconds), in turn order."""
    with services.sessions() as session:
        conversation = session.get(ConversationRecord, conversation_id)
        turns = session.scalars(select(TurnRecord).where(TurnRecord.conversation_id == conversation_id)
                                .order_by(TurnRecord.id)).all()
        assert len(turns) == len(offsets)
        for turn, offset in zip(turns, offsets):
            turn.created_at = start + timedelta(seconds=offset)
            if turn.feedback is not None:
                turn.feedback_at = turn.created_at
        conversation.started_at = start
        conversation.last_activity_at = datetime.now(UTC) if still_open else start + timedelta(seconds=offsets[-1])
        session.commit()


@pytest.fixture()
def scripted(client, services, admin_headers):
    """Four conversations over two days, two channels; the expected figures are worked out in the tests."""
    ann, bob, cleo, dan = (f"an-{uuid.uuid4().hex[:12]}" for _ in range(4))
    # 1: rest, day 1. An FAQ answer with a thumbs-up; idle since: ended, resolved.
    reply = chat(client, ann, "What is the return policy for devices?")
    assert reply["custom"]["kind"] == "faq"
    assert client.post("/feedback", json={"sender": ann, "turn_id": reply["custom"]["turn_id"],
                                          "rating": "up"}).status_code == 204
    first = reply["custom"]["conversation_id"]
    move(services, first, DAY1, [0, 2])
    # 2: rest, day 1. A fallback, a handoff, an agent answer 300 s after the handoff, closed: not resolved.
    assert chat(client, bob, "Give me a recipe for lasagne")["custom"]["kind"] == "fallback"
    handoff = chat(client, bob, "I want to talk to a human")
    assert handoff["custom"]["kind"] == "handoff"
    second = handoff["custom"]["conversation_id"]
    assert client.post(f"/admin/conversations/{second}/messages", json={"text": "Hi Bob, Maya here."},
                       headers=admin_headers).status_code == 201
    assert client.put(f"/admin/conversations/{second}/status", json={"status": "closed"},
                      headers=admin_headers).status_code == 200
    move(services, second, DAY1 + timedelta(hours=2), [0, 1, 60, 61, 361])
    # 3: widget, day 2. A greeting, an FAQ answer with a thumbs-down; idle since: ended, not resolved.
    sender = f"widget{uuid.uuid4().hex}"
    assert widget_chat(client, sender, "Hi")["custom"]["kind"] == "action"
    reply = widget_chat(client, sender, "What is the return policy for devices?")
    assert client.post("/feedback", json={"sender": sender, "channel": "widget", "rating": "down",
                                          "turn_id": reply["custom"]["turn_id"]}).status_code == 204
    third = reply["custom"]["conversation_id"]
    move(services, third, DAY2, [0, 3, 10, 11])
    # 4: rest, day 2. An FAQ answer; the customer is still there (active just now): not ended.
    reply = chat(client, dan, "How do I return a device?")
    assert reply["custom"]["kind"] == "faq"
    fourth = reply["custom"]["conversation_id"]
    move(services, fourth, DAY2 + timedelta(hours=1), [0, 4], still_open=True)
    yield first, second, third, fourth
    with services.sessions() as session:  # the next test scripts the same days again
        for conversation_id in (first, second, third, fourth):
            session.execute(delete(TurnRecord).where(TurnRecord.conversation_id == conversation_id))
            session.execute(delete(ConversationRecord).where(ConversationRecord.id == conversation_id))
        session.commit()


def test_figures_of_the_period_match_the_script(client, admin_headers, scripted):
    report = client.get("/admin/analytics", params=PERIOD, headers=admin_headers)
    assert report.status_code == 200, report.text
    body = report.json()
    expected = {
        "from": "2020-02-02", "to": "2020-02-05", "channel": None,
        "conversations": 4, "messages": 6, "bot_replies": 6, "agent_replies": 1,
        "ended_conversations": 3, "resolved_conversations": 1, "resolution_rate": 0.3333,
        "handed_off_conversations": 1, "handoff_rate": 0.25,
        "answers": 4, "fallbacks": 1, "fallback_rate": 0.25,
        "thumbs_up": 1, "thumbs_down": 1, "csat": 0.5,
        "median_first_bot_reply_seconds": 2.5,  # 2, 1, 3 and 4 s
        "median_first_agent_reply_seconds": 300.0,
    }
    assert {key: body[key] for key in expected} == expected
    days = {day["date"]: day for day in body["days"]}
    assert list(days) == ["2020-02-02", "2020-02-03", "2020-02-04", "2020-02-05"]  # every day, also quiet ones
    assert days["2020-02-02"]["conversations"] == 0 and days["2020-02-02"]["handoff_rate"] is None
    one, two = days["2020-02-03"], days["2020-02-04"]
    assert (one["conversations"], one["messages"], one["handoff_rate"], one["fallback_rate"],
            one["resolution_rate"], one["thumbs_up"], one["thumbs_down"]) == (2, 3, 0.5, 0.5, 0.5, 1, 0)
    assert (two["conversations"], two["messages"], two["handoff_rate"], two["fallback_rate"],
            two["resolution_rate"], two["thumbs_up"], two["thumbs_down"]) == (2, 3, 0.0, 0.0, 0.0, 0, 1)
    assert (one["median_first_bot_reply_seconds"], two["median_first_bot_reply_seconds"]) == (1.5, 3.5)
    channels = {row["channel"]: row for row in body["channels"]}
    assert (channels["rest"]["conversations"], channels["widget"]["conversations"]) == (3, 1)


def test_channel_filter_and_a_quiet_period(client, admin_headers, scripted):
    widget = client.get("/admin/analytics", params={**PERIOD, "channel": "widget"}, headers=admin_headers).json()
    assert (widget["conversations"], widget["messages"], widget["thumbs_down"], widget["resolution_rate"],
            widget["fallback_rate"]) == (1, 2, 1, 0.0, 0.0)
    assert [row["channel"] for row in widget["channels"]] == ["widget"]
    quiet = client.get("/admin/analytics", params={"from": "2019-01-01", "to": "2019-01-31"},
                       headers=admin_headers).json()
    assert quiet["conversations"] == 0 and quiet["resolution_rate"] is None and len(quiet["days"]) == 31


def test_any_key_may_read_the_figures_and_bad_periods_are_explained(client, make_key, admin_headers):
    assert client.get("/admin/analytics", params=PERIOD, headers=make_key("viewer")).status_code == 200
    assert client.get("/admin/analytics", params=PERIOD).status_code == 401
    swapped = client.get("/admin/analytics", params={"from": "2020-02-05", "to": "2020-02-01"}, headers=admin_headers)
    assert swapped.status_code == 422 and "swap" in swapped.json()["detail"][0]["msg"]  # FastAPI's 422 shape
    too_long = client.get("/admin/analytics", params={"from": "2018-01-01", "to": "2020-01-01"},
                          headers=admin_headers)
    assert too_long.status_code == 422 and "at most 366" in too_long.json()["detail"][0]["msg"]
    assert client.get("/admin/analytics", params={"from": "yesterday"}, headers=admin_headers).status_code == 422
    default = client.get("/admin/analytics", headers=admin_headers).json()
    assert len(default["days"]) == 30 and default["to"] == datetime.now(UTC).date().isoformat()


def test_suggestions_offered_and_chosen_are_counted(client, services, admin_headers):
    unsure = "My thermostat won't turn on any more after a year, how do I get it fixed?"
    day = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)
    eve, fay = (f"an-{uuid.uuid4().hex[:12]}" for _ in range(2))
    offered = chat(client, eve, unsure)
    faq_button = next(b for b in offered["buttons"] if b["payload"].startswith("/faq"))
    assert chat(client, eve, faq_button["payload"])["custom"]["kind"] == "faq"
    chose = offered["custom"]["conversation_id"]
    ignored = chat(client, fay, unsure)["custom"]["conversation_id"]  # offered, not chosen
    move(services, chose, day, [0, 1, 30, 31])
    move(services, ignored, day, [0, 1])
    try:
        body = client.get("/admin/analytics", params={"from": "2020-03-02", "to": "2020-03-02"},
                          headers=admin_headers).json()
        assert (body["answers"], body["fallbacks"], body["suggesting_fallbacks"], body["suggestions_chosen"],
                body["suggestion_choice_rate"]) == (3, 2, 2, 1, 0.5)
    finally:
        with services.sessions() as session:
            for conversation_id in (chose, ignored):
                session.execute(delete(TurnRecord).where(TurnRecord.conversation_id == conversation_id))
                session.execute(delete(ConversationRecord).where(ConversationRecord.id == conversation_id))
            session.commit()
