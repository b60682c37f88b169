"""The admin API's audit log of knowledge changes: who changed which FAQ or document, and when."""

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from bot.deps import AdminDep, ServicesDep, require_viewer
from bot.openapi import Timestamp
from core.audit import audit_page

router = APIRouter(prefix="/admin", tags=["admin: audit"], dependencies=[Depends(require_viewer)])


class AuditOut(BaseModel):
    id: int
    at: Timestamp
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    data: list[AuditOut]
    count: int


@router.get("/audit", response_model=AuditPage)
def audit_log(services: ServicesDep, _: AdminDep, offset: int = Query(0, ge=0),
              limit: int = Query(100, ge=1, le=1000), actor: str | None = None,
              action: str | None = Query(None, description="prefix, e.g. `faq.` or `document.delete`")):
    """Knowledge changes, newest first: who (key name or bootstrap-admin), when, what."""
    entries, count = audit_page(services.sessions, offset, limit, actor, action)
    return AuditPage(data=[AuditOut(**entry.__dict__) for entry in entries], count=count)
