"""Who changed what in the knowledge base (and the webhooks), and when: written in the same transaction
as the change. `audit_knowledge` also tells webhook subscribers (`knowledge.changed`) in that transaction."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core.database import Base, utcnow
from core.outbox import EventType, emit

SYSTEM = "system"  # changes made from the CLI or at start-up, not through the API


class AuditRecord(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40), index=True)  # faq.create, document.delete, ...
    target: Mapped[str] = mapped_column(String(200))  # faq:12, document:3
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def audit(session: Session, actor: str, action: str, target: str, **details: Any) -> None:
    session.add(AuditRecord(actor=actor, action=action, target=target, details=details))


def audit_knowledge(session: Session, actor: str, action: str, target: str, **details: Any) -> None:
    """An FAQ or document change: audited, and a `knowledge.changed` event for webhook subscribers."""
    audit(session, actor, action, target, **details)
    kind, _, item = target.partition(":")
    emit(session, EventType.KNOWLEDGE_CHANGED, {"action": action, "kind": kind, "id": int(item),
                                                "actor": actor, "details": details}, "knowledge")


def audit_page(sessions: sessionmaker, offset: int = 0, limit: int = 100, actor: str | None = None,
               action: str | None = None) -> tuple[list[AuditEntry], int]:
    """Newest first."""
    query = select(AuditRecord)
    if actor:
        query = query.where(AuditRecord.actor == actor)
    if action:
        query = query.where(AuditRecord.action.startswith(action))
    with sessions() as session:
        count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        records = session.scalars(query.order_by(AuditRecord.id.desc()).offset(offset).limit(limit))
        return [AuditEntry(r.id, r.at, r.actor, r.action, r.target, dict(r.details or {})) for r in records], count
