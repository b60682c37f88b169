"""The outbox's claims on a real database: several processes, one sender per row; order per conversation;
a dead process's claims are taken over; an event written in a rolled-back transaction is never there."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.notify.queue import DeliveryQueue, RetryPolicy
from core.outbox import (
    DeliveryStatus, EventType, OutboxEventRecord, WebhookDeliveryRecord, WebhookSubscriptionRecord, conversation_key,
    emit,
)
from core.processes import ProcessTable

pytestmark = pytest.mark.integration

POLICY = RetryPolicy(lease=timedelta(seconds=60), retry_for=timedelta(hours=1), first_backoff=0.01, max_backoff=0.01,
                     pause_after=timedelta(hours=1))


@pytest.fixture()
def sessions(migrated_database):
    _, factory = migrated_database
    with factory() as session:
        session.add(WebhookSubscriptionRecord(url="http://127.0.0.1:9/hook", events=[t.value for t in EventType],
                                              secret="s" * 16, created_by="test"))
        session.commit()
    return factory


def _process(sessions) -> DeliveryQueue:
    registry = ProcessTable(sessions, timedelta(seconds=60))
    registry.register()
    return DeliveryQueue(sessions, registry.id, registry.orphaned, POLICY)


def _emit(sessions, count: int, key=lambda n: None) -> None:
    with sessions() as session:
        for n in range(count):
            emit(session, EventType.MESSAGE_RECEIVED, {"n": n}, key(n))
        session.commit()


def test_two_processes_claiming_at_once_send_each_delivery_once(sessions):
    _emit(sessions, 60)
    queues = [_process(sessions), _process(sessions)]
    sent: list[list[int]] = [[], []]

    def drain(index: int) -> None:
        while claimed := queues[index].claim(5):
            for item in claimed:
                sent[index].append(item.id)
                queues[index].succeeded(item, 200)

    threads = [threading.Thread(target=drain, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(sent[0] + sent[1]) == sorted(set(sent[0] + sent[1]))  # nobody sent a row the other sent
    assert len(sent[0]) + len(sent[1]) == 60
    with sessions() as session:
        assert set(session.scalars(select(WebhookDeliveryRecord.status))) == {DeliveryStatus.SENT}


def test_a_conversation_waits_for_its_earlier_delivery_others_do_not(sessions):
    _emit(sessions, 4, key=lambda n: conversation_key(1 if n < 3 else 2))
    queue, other = _process(sessions), _process(sessions)
    first = queue.claim(10)
    assert [item.body for item in first] == [_body_with(sessions, 1), _body_with(sessions, 4)]  # one per conversation
    assert other.claim(10) == []  # the second of conversation 1 waits until the first is done
    queue.failed(first[0], 500, "HTTP 500")  # failing keeps it pending: its retry comes before the second
    time.sleep(0.02)  # the backoff
    [retry] = other.claim(10)
    assert (retry.id, retry.attempt) == (first[0].id, 2)
    other.succeeded(retry, 200)
    assert [item.body for item in queue.claim(10)] == [_body_with(sessions, 2)]


def test_the_claims_of_a_dead_process_are_taken_over_and_a_clean_stop_frees_them(sessions):
    _emit(sessions, 2)
    registry = ProcessTable(sessions, timedelta(seconds=60))
    registry.register()
    dying = DeliveryQueue(sessions, registry.id, registry.orphaned, POLICY)
    assert len(dying.claim(10)) == 2
    heir = _process(sessions)
    assert heir.claim(10) == []  # leased to a living process
    registry.retire()  # what a restart does for a killed process of this host (ProcessTable.register)
    assert len(heir.claim(10)) == 2
    assert heir.release() == 2
    assert len(_process(sessions).claim(10)) == 2


def test_an_event_of_a_rolled_back_transaction_is_not_there(sessions):
    with sessions() as session:
        assert emit(session, EventType.FEEDBACK_RECEIVED, {"turn_id": 1}, conversation_key(1)) is not None
        session.rollback()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEventRecord)) == 0
        assert session.scalar(select(func.count()).select_from(WebhookDeliveryRecord)) == 0


def test_nothing_is_written_when_no_subscription_wants_the_type(sessions):
    with sessions() as session:
        session.get(WebhookSubscriptionRecord, 1).events = ["knowledge.changed"]
        session.commit()
        assert emit(session, EventType.MESSAGE_RECEIVED, {"text": "hi"}) is None
        session.commit()
        assert session.scalar(select(func.count()).select_from(OutboxEventRecord)) == 0


def _body_with(sessions, event_row: int) -> str:
    with sessions() as session:
        return session.get(OutboxEventRecord, event_row).body
