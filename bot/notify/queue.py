"""The delivery side of the outbox (core/outbox.py): which process sends which row, and what came of it.

A process claims due deliveries by writing a lease (its process id and an expiry) with a conditional
UPDATE, so of several processes sharing the database exactly one wins each row; on PostgreSQL the
candidates are first locked with FOR UPDATE SKIP LOCKED so that claimers pass each other instead of
waiting. A lease whose process died (core/processes.py) or that expired is free again: delivery is
at-least-once, the event id is the receiver's dedup key. A delivery is due only when no earlier delivery
with the same ordering key (one conversation, or the knowledge base) for the same subscription is still
pending, so each receiver gets a conversation's events in order.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.database import as_utc, utcnow
from core.outbox import (
    DeliveryStatus, OutboxEventRecord, SubscriptionStatus, WebhookDeliveryRecord, WebhookSubscriptionRecord,
)
from core.processes import Orphaned

Delivery = WebhookDeliveryRecord
Subscription = WebhookSubscriptionRecord


@dataclass(frozen=True)
class RetryPolicy:
    lease: timedelta  # how long a claim holds; longer than one attempt can take
    retry_for: timedelta  # after this long failing, a delivery is marked failed
    first_backoff: float  # seconds before the first retry; doubles per attempt
    max_backoff: float
    pause_after: timedelta  # a subscription whose every attempt failed this long is paused

    def backoff(self, attempts: int) -> timedelta:
        delay = min(self.first_backoff * 2 ** max(attempts - 1, 0), self.max_backoff)
        return timedelta(seconds=delay * random.uniform(0.75, 1.0))  # spread retries of many deliveries


@dataclass(frozen=True)
class Claimed:
    id: int
    subscription_id: int
    url: str
    secret: str
    event_id: str
    type: str
    body: str
    attempt: int  # this attempt's number, from 1


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    status_code: int | None
    error: str | None  # None: the receiver took it (2xx)


class DeliveryQueue:
    def __init__(self, sessions: sessionmaker, owner: str, orphaned: Orphaned, policy: RetryPolicy):
        self.sessions = sessions
        self.owner = owner  # this process's id in the process table
        self.orphaned = orphaned
        self.policy = policy

    def claim(self, limit: int) -> list[Claimed]:
        """Lease up to `limit` due deliveries to this process, oldest first."""
        now = utcnow()
        with self.sessions() as session:
            query = select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING,
                                              Delivery.next_attempt_at <= now, self._free(now), _active(),
                                              _first_in_line()).order_by(Delivery.id).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            won = [row_id for row_id in session.scalars(query).all() if session.execute(
                update(Delivery).where(Delivery.id == row_id, Delivery.status == DeliveryStatus.PENDING,
                                       self._free(now))
                .values(lease_owner=self.owner, lease_until=now + self.policy.lease)).rowcount == 1]
            session.commit()
            rows = session.execute(
                select(Delivery.id, Delivery.subscription_id, Subscription.url, Subscription.secret,
                       OutboxEventRecord.event_id, OutboxEventRecord.type, OutboxEventRecord.body, Delivery.attempts)
                .join(Subscription, Subscription.id == Delivery.subscription_id)
                .join(OutboxEventRecord, OutboxEventRecord.id == Delivery.event_id)
                .where(Delivery.id.in_(won)).order_by(Delivery.id)).all()
        return [Claimed(*row[:7], attempt=row.attempts + 1) for row in rows]

    def _free(self, now: datetime):
        return or_(Delivery.lease_until.is_(None), Delivery.lease_until < now, self.orphaned(Delivery.lease_owner))

    def succeeded(self, claimed: Claimed, status_code: int) -> None:
        self.record([Outcome(claimed, status_code, None)])

    def failed(self, claimed: Claimed, status_code: int | None, error: str) -> None:
        self.record([Outcome(claimed, status_code, error)])

    def record(self, outcomes: list["Outcome"]) -> None:
        """What came of these attempts, in one transaction (a commit per delivery would bound the rate)."""
        now = utcnow()
        with self.sessions() as session:
            for outcome in outcomes:
                if outcome.error is None:
                    self._succeeded(session, outcome.claimed, outcome.status_code, now)
                else:
                    self._failed(session, outcome.claimed, outcome.status_code, outcome.error, now)
            session.commit()

    def _succeeded(self, session: Session, claimed: Claimed, status_code: int, now: datetime) -> None:
        mine = session.execute(update(Delivery).where(Delivery.id == claimed.id, Delivery.lease_owner == self.owner)
                               .values(status=DeliveryStatus.SENT, sent_at=now, attempts=claimed.attempt,
                                       last_attempt_at=now, last_status_code=status_code, last_error=None,
                                       lease_owner=None, lease_until=None)).rowcount
        if mine:  # else the lease ran out and another process took the row over: it sends it again
            session.execute(update(Subscription).where(Subscription.id == claimed.subscription_id)
                            .values(failing_since=None, failures_in_a_row=0, last_success_at=now))

    def _failed(self, session: Session, claimed: Claimed, status_code: int | None, error: str,
                now: datetime) -> None:
        """Retry later with backoff, or give up once the retry window is over; pause a receiver that only fails."""
        delivery = session.get(Delivery, claimed.id)
        if delivery is None or delivery.lease_owner != self.owner:
            return  # deleted meanwhile, or taken over after the lease ran out
        delivery.attempts, delivery.last_attempt_at = claimed.attempt, now
        delivery.last_status_code, delivery.last_error = status_code, error[:2000]
        delivery.lease_owner = delivery.lease_until = None
        if as_utc(delivery.window_started_at) + self.policy.retry_for <= now:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = now + self.policy.backoff(claimed.attempt)
        self._count_failure(session, claimed.subscription_id, now, error)

    def _count_failure(self, session: Session, subscription_id: int, now: datetime, error: str) -> None:
        subscription = session.get(Subscription, subscription_id)
        subscription.failures_in_a_row += 1
        since = as_utc(subscription.failing_since) if subscription.failing_since else now
        subscription.failing_since = since
        if subscription.status == SubscriptionStatus.ACTIVE and now - since >= self.policy.pause_after:
            subscription.status, subscription.paused_at = SubscriptionStatus.PAUSED, now
            subscription.paused_reason = (
                f"Paused automatically at {now:%Y-%m-%d %H:%M:%S} UTC: every attempt since {since:%Y-%m-%d %H:%M:%S} "
                f"UTC failed ({subscription.failures_in_a_row} in a row); the last one: {error[:500]}. Deliveries "
                f"wait. Fix the receiver, then resume: POST /admin/webhooks/{subscription_id}/resume or "
                f"`helpdesk webhooks resume {subscription_id}`.")

    def release(self) -> int:
        """Clean shutdown: this process's claims are at once free for the others (nothing was lost either way)."""
        with self.sessions() as session:
            freed = session.execute(update(Delivery).where(Delivery.lease_owner == self.owner,
                                                           Delivery.status == DeliveryStatus.PENDING)
                                    .values(lease_owner=None, lease_until=None)).rowcount
            session.commit()
        return freed

    def prune(self, keep: timedelta) -> int:
        """Forget deliveries that ended (sent or failed) longer than `keep` ago, and events nobody waits for."""
        before = utcnow() - keep
        with self.sessions() as session:
            removed = session.execute(delete(Delivery).where(
                Delivery.status != DeliveryStatus.PENDING,
                or_(Delivery.sent_at < before, Delivery.last_attempt_at < before))).rowcount
            drop_orphaned_events(session)
            session.commit()
        return removed


def _active():
    return select(Subscription.id).where(Subscription.id == Delivery.subscription_id,
                                         Subscription.status == SubscriptionStatus.ACTIVE).exists()


def _first_in_line():
    """Not after a pending delivery with the same ordering key and subscription (no key: never waits).

    One grouped pass over the pending rows: far cheaper than asking, row by row, whether an earlier one
    waits, when a slow receiver has let hundreds of a few conversations' events pile up.
    """
    heads = (select(func.min(Delivery.id)).where(Delivery.status == DeliveryStatus.PENDING,
                                                 Delivery.ordering_key.is_not(None))
             .group_by(Delivery.subscription_id, Delivery.ordering_key))
    return or_(Delivery.ordering_key.is_(None), Delivery.id.in_(heads.scalar_subquery()))


def drop_orphaned_events(session: Session) -> int:
    waited_for = select(Delivery.id).where(Delivery.event_id == OutboxEventRecord.id)
    return session.execute(delete(OutboxEventRecord).where(~waited_for.exists())).rowcount
