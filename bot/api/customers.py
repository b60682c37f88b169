"""Customer data requests (docs/privacy.md): find a customer, export what is kept about them, erase it.

Admin role only; each export and erasure is in the audit log (who, when, which id; never the content).
"""

from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from bot.support.customers import audit_export, erase_customer, export_customer, find_customers
from bot.deps import AdminDep, ServicesDep
from bot.openapi import Timestamp

router = APIRouter(prefix="/admin/customers", tags=["admin: customers"])


class CustomerOut(BaseModel):
    id: int
    channel: str
    sender_id: str
    name: str | None
    conversations: int
    created_at: Timestamp


class CustomerPage(BaseModel):
    data: list[CustomerOut]


class ErasedOut(BaseModel):
    id: int
    conversations: int
    turns: int
    identities: int
    channel_events: int
    deliveries: int
    training_examples: int


@router.get("", response_model=CustomerPage)
def customers(services: ServicesDep, _: AdminDep,
              channel: str | None = Query(None, max_length=40, description="rest, widget, socketio, slack, telegram"),
              sender_id: str | None = Query(None, max_length=255, description="The sender id on that channel.")):
    """Customers by channel identity (at most 1000); the id is what export and erasure take."""
    return CustomerPage(data=[CustomerOut(**found.__dict__)
                              for found in find_customers(services.sessions, channel, sender_id)])


@router.get("/{customer_id}/export", responses={404: {"description": "No such customer."}})
async def export(customer_id: int, services: ServicesDep, principal: AdminDep) -> dict[str, Any]:
    """Everything kept about one customer: profile, identities, conversations with their turns, feedback."""
    data = await run_in_threadpool(export_customer, services.sessions, customer_id)
    await run_in_threadpool(audit_export, services.sessions, customer_id, principal.name)
    return data


@router.delete("/{customer_id}", response_model=ErasedOut, responses={404: {"description": "No such customer."}})
async def erase(customer_id: int, services: ServicesDep, principal: AdminDep):
    """Erase one customer in one transaction, and their examples in the registry's training datasets."""
    erased = await run_in_threadpool(erase_customer, services.sessions, customer_id, principal.name,
                                     services.settings.resolved_registry_dir)
    services.manager.across.forget_translations()  # of their messages too (docs/privacy.md)
    return ErasedOut(id=customer_id, **erased.__dict__)
