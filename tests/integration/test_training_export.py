"""Feedback and agent replies flow into `helpdesk export conversations` and into training pairs."""

import json

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.settings import get_settings
from dialogue.records import ConversationRecord, TurnRecord
from tests.conftest import chat
from training.conversations import iter_conversations, read_jsonl
from training.qa_pairs import pairs_from_conversations

pytestmark = pytest.mark.integration

AGENT_ANSWER = "I've refunded the shipping cost to your card; it shows within 5 working days."


def test_export_holds_feedback_and_agent_replies_and_feeds_training(client, services, sender, tmp_path,
                                                                    monkeypatch):
    reply = chat(client, sender, "What is the return policy for devices?")
    assert reply["custom"]["kind"] == "faq"
    turn_id = reply["custom"]["turn_id"]
    assert client.post("/feedback", json={"sender": sender, "turn_id": turn_id, "rating": "up"}).status_code == 204
    second = chat(client, sender, "Can you refund my shipping?")
    with services.sessions() as session:  # what a human agent's reply looks like once stored
        session.add(TurnRecord(conversation_id=second["custom"]["conversation_id"], role="agent",
                               text=AGENT_ANSWER, kind="message", sources=[], metadata_={}))
        session.commit()

    settings = services.settings
    for name, value in {"DATA_DIR": settings.data_dir, "DATABASE_URL": settings.database_url,
                        "MODELS_DIR": settings.models_dir}.items():
        monkeypatch.setenv(f"HELPDESK_{name}", str(value))
    get_settings.cache_clear()
    out = tmp_path / "conversations.jsonl"
    try:
        result = CliRunner().invoke(main, ["export", "conversations", str(out), "--rated-only"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(record["turns"] for record in records)
    assert all(record["user_id"] == record["customer_id"] for record in records)  # user_id: the deprecated alias
    mine = [c for c in read_jsonl(out) if c.id == reply["custom"]["conversation_id"]]
    assert len(mine) == 1
    with services.sessions() as session:
        assert mine[0].customer_id == session.get(ConversationRecord, mine[0].id).customer_id
    turns = mine[0].turns
    assert [t.role for t in turns] == ["user", "bot", "user", "bot", "agent"]
    assert turns[1].feedback == 1 and turns[1].sources[0]["title"] == "How do I return a device?"
    assert turns[4].text == AGENT_ANSWER

    faqs = {faq.id: faq for faq in services.knowledge.page(0, 1000)[0]}
    pairs = pairs_from_conversations(mine, faqs)
    assert [(p.question, p.source) for p in pairs] == [
        ("What is the return policy for devices?", "conversation"), ("Can you refund my shipping?", "conversation")]
    assert pairs[0].knowledge[0].question == "How do I return a device?"
    assert pairs[1].answer == AGENT_ANSWER and pairs[1].knowledge[0].answer == AGENT_ANSWER


def test_export_without_filter_includes_unrated_conversations(client, services, sender):
    reply = chat(client, sender, "How do I place an order?")
    ids = {c.id for c in iter_conversations(services.sessions)}
    rated = {c.id for c in iter_conversations(services.sessions, only_rated=True)}
    assert reply["custom"]["conversation_id"] in ids - rated


def test_an_export_written_before_customer_id_is_still_read(tmp_path):
    older = {"id": 7, "user_id": 3, "channel": "rest", "status": "closed", "started_at": "2026-11-30T10:00:00+00:00",
             "turns": [{"id": 1, "role": "user", "kind": "message", "text": "Hi", "sources": [], "model_id": None,
                        "feedback": None, "created_at": "2026-11-30T10:00:00+00:00"}]}
    path = tmp_path / "older.jsonl"
    path.write_text(json.dumps(older) + "\n")
    [conversation] = read_jsonl(path)
    assert (conversation.id, conversation.customer_id, conversation.turns[0].text) == (7, 3, "Hi")
    assert conversation.to_dict() == {**older, "customer_id": 3}
    assert list(conversation.to_dict())[:3] == ["id", "customer_id", "user_id"]
