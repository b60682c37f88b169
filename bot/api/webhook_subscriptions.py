"""Admin API of outgoing webhooks: subscriptions, their deliveries, redelivery (docs/webhooks.md).

Admin role only: a delivery carries conversation text, as the transcripts do.
"""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.deps import AdminDep, ServicesDep, require_admin
from bot.openapi import Timestamp
from bot.notify.store import Delivery, Subscription, WebhookStore
from core.outbox import DeliveryStatus, EventType, SubscriptionStatus

router = APIRouter(prefix="/admin/webhooks", tags=["admin: webhooks"], dependencies=[Depends(require_admin)])

MIN_SECRET_CHARS = 16


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http:// or https:// URL that receives a POST per event")
    events: list[EventType] = Field(min_length=1, description="the event types to send (docs/webhooks.md)")
    secret: str = Field(max_length=500, description=f"signs every delivery; at least {MIN_SECRET_CHARS} characters, "
                                                    "e.g. `openssl rand -hex 32`. Never shown again.")
    description: str | None = Field(None, max_length=500)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        url = url.strip()
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError as error:
            raise ValueError(f"is not a valid URL ({error})") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://crm.example.com/hooks")
        return url

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, secret: str) -> str:
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise ValueError(f"must have at least {MIN_SECRET_CHARS} characters (not counting spaces at its ends); "
                             "generate one with `openssl rand -hex 32`")
        return secret


class SubscriptionOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    status: SubscriptionStatus = Field(description="active, or paused (by an admin, or by a receiver that kept "
                                                   "failing)")
    paused_reason: str | None = Field(description="why it is paused and how to resume it")
    paused_at: Timestamp | None
    failing_since: Timestamp | None = Field(description="since when every attempt failed; null after a success")
    failures_in_a_row: int
    last_success_at: Timestamp | None
    created_by: str
    created_at: Timestamp
    pending: int = Field(description="deliveries waiting to be sent or retried")
    failed: int = Field(description="deliveries that gave up after the retry window (redeliver them)")

    @classmethod
    def of(cls, subscription: Subscription) -> "SubscriptionOut":
        return cls(**subscription.__dict__)


class SubscriptionPage(BaseModel):
    data: list[SubscriptionOut]
    count: int


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    type: EventType
    status: DeliveryStatus = Field(description="pending, sent or failed")
    attempts: int
    next_attempt_at: Timestamp | None = Field(description="when it is tried next (pending only)")
    last_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    sent_at: Timestamp | None
    created_at: Timestamp
    payload: dict = Field(description="the body sent, `{id, type, created_at, data}`")

    @classmethod
    def of(cls, delivery: Delivery) -> "DeliveryOut":
        return cls(**delivery.__dict__)


class DeliveryPage(BaseModel):
    data: list[DeliveryOut]
    count: int


def get_store(services: ServicesDep) -> WebhookStore:
    return WebhookStore(services.sessions)


StoreDep = Annotated[WebhookStore, Depends(get_store)]


@router.get("", response_model=SubscriptionPage)
def list_webhooks(store: StoreDep):
    subscriptions = store.all()
    return SubscriptionPage(data=[SubscriptionOut.of(item) for item in subscriptions], count=len(subscriptions))


@router.post("", response_model=SubscriptionOut, status_code=status.HTTP_201_CREATED)
def create_webhook(body: SubscriptionIn, store: StoreDep, principal: AdminDep):
    """Events from now on are sent to `url`, signed with `secret` (header X-Helpdesk-Signature)."""
    return SubscriptionOut.of(store.create(body.url, body.events, body.secret, body.description, principal.name))


@router.get("/{subscription_id}", response_model=SubscriptionOut)
def get_webhook(subscription_id: int, store: StoreDep):
    return SubscriptionOut.of(store.get(subscription_id))


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(subscription_id: int, store: StoreDep, principal: AdminDep) -> None:
    """Stops sending at once; its deliveries, sent or waiting, are forgotten."""
    store.delete(subscription_id, principal.name)


@router.post("/{subscription_id}/pause", response_model=SubscriptionOut)
def pause_webhook(subscription_id: int, store: StoreDep, principal: AdminDep):
    """Nothing is sent until it is resumed; events keep being queued for it."""
    return SubscriptionOut.of(store.pause(subscription_id, principal.name))


@router.post("/{subscription_id}/resume", response_model=SubscriptionOut)
def resume_webhook(subscription_id: int, store: StoreDep, principal: AdminDep):
    """What waited is sent now, in order, with a fresh retry window."""
    return SubscriptionOut.of(store.resume(subscription_id, principal.name))


@router.get("/{subscription_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(subscription_id: int, store: StoreDep,
                    status_filter: DeliveryStatus | None = Query(None, alias="status"),
                    offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500)):
    """Newest first, with each one's attempts, last status code and error, and the payload."""
    deliveries, count = store.deliveries(subscription_id, status_filter, offset, limit)
    return DeliveryPage(data=[DeliveryOut.of(item) for item in deliveries], count=count)


@router.post("/{subscription_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut,
             status_code=status.HTTP_202_ACCEPTED)
def redeliver(subscription_id: int, delivery_id: int, store: StoreDep, principal: AdminDep):
    """Send it again now (the same event id and body), with a fresh retry window."""
    return DeliveryOut.of(store.redeliver(subscription_id, delivery_id, principal.name))
