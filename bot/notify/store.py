"""Webhook subscriptions and their deliveries as admins see and change them (bot/api/webhook_subscriptions.py, the CLI).

Every change is audited in its own transaction (core/audit.py); the secret is never shown or audited.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.notify.queue import drop_orphaned_events
from core.database import utcnow
from core.outbox import (
    DeliveryStatus, EventType, OutboxEventRecord, SubscriptionStatus, WebhookDeliveryRecord, WebhookSubscriptionRecord,
)
from core.audit import audit


class WebhookNotFound(LookupError):
    def __init__(self, subscription_id: int):
        super().__init__(f"No webhook subscription {subscription_id}; `GET /admin/webhooks` lists them.")


class DeliveryNotFound(LookupError):
    def __init__(self, subscription_id: int, delivery_id: int):
        super().__init__(f"No delivery {delivery_id} of webhook subscription {subscription_id}; "
                         f"`GET /admin/webhooks/{subscription_id}/deliveries` lists them.")


@dataclass(frozen=True)
class Subscription:
    id: int
    url: str
    events: list[str]
    description: str | None
    status: SubscriptionStatus
    paused_reason: str | None
    paused_at: datetime | None
    failing_since: datetime | None
    failures_in_a_row: int
    last_success_at: datetime | None
    created_by: str
    created_at: datetime
    pending: int
    failed: int


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    type: EventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime
    payload: dict


class WebhookStore:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def create(self, url: str, events: list[EventType], secret: str, description: str | None,
               actor: str) -> Subscription:
        with self.sessions() as session:
            record = WebhookSubscriptionRecord(url=url, events=[event.value for event in dict.fromkeys(events)],
                                               secret=secret, description=description,
                                               status=SubscriptionStatus.ACTIVE, created_by=actor)
            session.add(record)
            session.flush()
            audit(session, actor, "webhook.create", f"webhook:{record.id}", url=url, events=record.events)
            session.commit()
            return self._view(session, record)

    def all(self) -> list[Subscription]:
        with self.sessions() as session:
            records = session.scalars(select(WebhookSubscriptionRecord).order_by(WebhookSubscriptionRecord.id))
            return [self._view(session, record) for record in records]

    def get(self, subscription_id: int) -> Subscription:
        with self.sessions() as session:
            return self._view(session, self._record(session, subscription_id))

    def delete(self, subscription_id: int, actor: str) -> None:
        """The subscription and its deliveries, sent or not; events nobody else waits for go with them."""
        with self.sessions() as session:
            record = self._record(session, subscription_id)
            session.execute(delete(WebhookDeliveryRecord).where(WebhookDeliveryRecord.subscription_id == record.id))
            session.delete(record)
            audit(session, actor, "webhook.delete", f"webhook:{subscription_id}", url=record.url)
            session.flush()
            drop_orphaned_events(session)
            session.commit()

    def pause(self, subscription_id: int, actor: str) -> Subscription:
        with self.sessions() as session:
            record = self._record(session, subscription_id)
            record.status, record.paused_at = SubscriptionStatus.PAUSED, utcnow()
            record.paused_reason = f"paused by {actor}"
            audit(session, actor, "webhook.pause", f"webhook:{subscription_id}")
            session.commit()
            return self._view(session, record)

    def resume(self, subscription_id: int, actor: str) -> Subscription:
        """Active again; what waited is due now, with a fresh retry window."""
        with self.sessions() as session:
            record = self._record(session, subscription_id)
            record.status, record.paused_at, record.paused_reason = SubscriptionStatus.ACTIVE, None, None
            record.failing_since, record.failures_in_a_row = None, 0
            now = utcnow()
            session.execute(update(WebhookDeliveryRecord).where(
                WebhookDeliveryRecord.subscription_id == subscription_id,
                WebhookDeliveryRecord.status == DeliveryStatus.PENDING).values(next_attempt_at=now,
                                                                               window_started_at=now))
            audit(session, actor, "webhook.resume", f"webhook:{subscription_id}")
            session.commit()
            return self._view(session, record)

    def deliveries(self, subscription_id: int, status: DeliveryStatus | None, offset: int,
                   limit: int) -> tuple[list[Delivery], int]:
        """Newest first."""
        with self.sessions() as session:
            self._record(session, subscription_id)
            query = (select(WebhookDeliveryRecord, OutboxEventRecord)
                     .join(OutboxEventRecord, OutboxEventRecord.id == WebhookDeliveryRecord.event_id)
                     .where(WebhookDeliveryRecord.subscription_id == subscription_id))
            if status:
                query = query.where(WebhookDeliveryRecord.status == status)
            count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.execute(query.order_by(WebhookDeliveryRecord.id.desc()).offset(offset).limit(limit))
            return [_delivery(delivery, event) for delivery, event in rows], count

    def redeliver(self, subscription_id: int, delivery_id: int, actor: str) -> Delivery:
        """Send again (a failed delivery, or a sent one the receiver lost), with a fresh retry window."""
        with self.sessions() as session:
            row = session.execute(
                select(WebhookDeliveryRecord, OutboxEventRecord)
                .join(OutboxEventRecord, OutboxEventRecord.id == WebhookDeliveryRecord.event_id)
                .where(WebhookDeliveryRecord.id == delivery_id,
                       WebhookDeliveryRecord.subscription_id == subscription_id)).first()
            if row is None:
                raise DeliveryNotFound(subscription_id, delivery_id)
            delivery, event = row
            now = utcnow()
            delivery.status, delivery.next_attempt_at, delivery.window_started_at = DeliveryStatus.PENDING, now, now
            audit(session, actor, "webhook.redeliver", f"webhook:{subscription_id}", delivery=delivery_id,
                  event=event.event_id)
            session.commit()
            return _delivery(delivery, event)

    @staticmethod
    def _record(session: Session, subscription_id: int) -> WebhookSubscriptionRecord:
        record = session.get(WebhookSubscriptionRecord, subscription_id)
        if record is None:
            raise WebhookNotFound(subscription_id)
        return record

    @staticmethod
    def _view(session: Session, record: WebhookSubscriptionRecord) -> Subscription:
        counts = dict(session.execute(
            select(WebhookDeliveryRecord.status, func.count()).where(WebhookDeliveryRecord.subscription_id == record.id)
            .group_by(WebhookDeliveryRecord.status)).all())
        return Subscription(record.id, record.url, list(record.events), record.description,
                            SubscriptionStatus(record.status), record.paused_reason, record.paused_at,
                            record.failing_since, record.failures_in_a_row, record.last_success_at, record.created_by,
                            record.created_at, counts.get(DeliveryStatus.PENDING.value, 0),
                            counts.get(DeliveryStatus.FAILED.value, 0))


def _delivery(delivery: WebhookDeliveryRecord, event: OutboxEventRecord) -> Delivery:
    due = delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None
    return Delivery(delivery.id, event.event_id, EventType(event.type), DeliveryStatus(delivery.status),
                    delivery.attempts, due, delivery.last_attempt_at, delivery.last_status_code, delivery.last_error,
                    delivery.sent_at, delivery.created_at, json.loads(event.body))

