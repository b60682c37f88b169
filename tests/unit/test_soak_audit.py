"""bench/soak.py's counters find each fault they report, in a real database (the benchmark itself is not run here)."""

import importlib.util
from pathlib import Path

import pytest

from bot.migrate import upgrade_database
from core.database import make_engine, make_session_factory
from dialogue.records import ChannelIdentityRecord, ConversationRecord, CustomerRecord, TurnRecord

pytestmark = pytest.mark.unit

_spec = importlib.util.spec_from_file_location(
    "soak_audit", Path(__file__).resolve().parents[2] / "bench" / "soak_audit.py")
soak_audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak_audit)

SENT = [("m000", "How do I place an order?"), ("m001", "Where is my order?"), ("m002", "restock date?")]


def _store(sessions, sender: str, turns: list[tuple[str, str | None]]) -> None:
    """turns: (role, message id of the user turn / None for a bot turn); each conversation split by '|'."""
    texts = dict(SENT)
    with sessions() as session:
        customer = CustomerRecord()
        session.add(customer)
        session.flush()
        session.add(ChannelIdentityRecord(channel="rest", external_id=sender, customer_id=customer.id))
        conversation = ConversationRecord(customer_id=customer.id, channel="rest")
        session.add(conversation)
        session.flush()
        for role, message_id in turns:
            if role == "|":  # the customer's next message opened a new conversation
                conversation = ConversationRecord(customer_id=customer.id, channel="rest")
                session.add(conversation)
                session.flush()
                continue
            text, metadata = (texts[message_id], {"message_id": message_id}) if role == "user" else ("ok", {})
            session.add(TurnRecord(conversation_id=conversation.id, role=role, text=text, kind="message",
                                   metadata_=metadata))
            session.flush()
        session.commit()


def test_each_fault_is_counted_once_per_turn_it_concerns(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = make_engine(url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    reply = ("bot", None)
    _store(sessions, "fine", [("user", "m000"), reply, ("|", None), ("user", "m001"), reply, ("user", "m002"),
                              reply])
    _store(sessions, "lost", [("user", "m000"), reply, ("user", "m002"), reply])
    _store(sessions, "doubled", [("user", "m000"), ("user", "m000"), reply, ("user", "m001"), reply,
                                 ("user", "m002"), reply])
    _store(sessions, "reordered", [("user", "m000"), reply, ("user", "m002"), reply, ("user", "m001"), reply])
    engine.dispose()

    def audit(sender: str):
        return soak_audit.audit_database(url, {sender: SENT})

    assert (audit("fine").lost, audit("fine").duplicated, audit("fine").unanswered, audit("fine").out_of_order,
            audit("fine").user_turns, audit("fine").bot_turns) == (0, 0, 0, 0, 3, 3)
    assert (audit("lost").lost, audit("lost").out_of_order) == (1, 0)
    doubled = audit("doubled")  # the first copy is the one left without an answer
    assert (doubled.lost, doubled.duplicated, doubled.unanswered, doubled.out_of_order) == (0, 1, 1, 0)
    reordered = audit("reordered")
    assert (reordered.lost, reordered.duplicated, reordered.unanswered, reordered.out_of_order) == (0, 0, 0, 1)
    assert audit("nobody").lost == 3  # a customer with nothing stored lost everything sent
