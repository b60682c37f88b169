"""API keys with roles for the admin API, stored hashed; HELPDESK_ADMIN_TOKEN stays the bootstrap admin.

Keys are 256-bit random tokens, so a plain SHA-256 is enough to make a stolen database useless for
logging in: slow password hashes (argon2, bcrypt) protect guessable secrets, which these are not.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core.database import Base, utcnow

BOOTSTRAP_ADMIN = "bootstrap-admin"
_PREFIX = "hdk_"


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    viewer = 1  # read FAQs, documents, jobs; hit-test search
    editor = 2  # change FAQs and documents
    admin = 3  # read the audit log, everything else


class ApiKeyRecord(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings so people can tell keys apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyError(Exception):
    pass


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(sessions: sessionmaker, name: str, role: str) -> str:
    """Store a new key and return its token; the token is shown once and never stored."""
    if role not in Role.__members__:
        raise ApiKeyError(f"unknown role {role!r}; use one of {', '.join(Role.__members__)}")
    name = name.strip()
    if not name:
        raise ApiKeyError("a key needs a name (who or what uses it)")
    token = _PREFIX + secrets.token_urlsafe(32)
    try:
        with sessions() as session:
            session.add(ApiKeyRecord(name=name, role=role, key_hash=hash_key(token), prefix=token[:10]))
            session.commit()
    except IntegrityError:
        raise ApiKeyError(f"a key named {name!r} already exists; revoke it or pick another name") from None
    return token


def revoke_key(sessions: sessionmaker, name: str) -> None:
    with sessions() as session:
        record = session.scalar(select(ApiKeyRecord).where(ApiKeyRecord.name == name))
        if record is None:
            raise ApiKeyError(f"no key named {name!r}")
        record.revoked_at = record.revoked_at or utcnow()
        session.commit()


def list_keys(sessions: sessionmaker) -> list[ApiKey]:
    with sessions() as session:
        return [ApiKey(r.name, r.role, r.prefix, r.created_at, r.last_used_at, r.revoked_at)
                for r in session.scalars(select(ApiKeyRecord).order_by(ApiKeyRecord.id))]


def any_keys(sessions: sessionmaker) -> bool:
    with sessions() as session:
        return session.scalar(select(ApiKeyRecord.id).where(ApiKeyRecord.revoked_at.is_(None)).limit(1)) is not None


def principal_for(sessions: sessionmaker, token: str) -> Principal | None:
    """The live key's owner, or None for an unknown or revoked token."""
    with sessions() as session:
        record = session.scalar(select(ApiKeyRecord).where(ApiKeyRecord.key_hash == hash_key(token)))
        if record is None or record.revoked_at is not None:
            return None
        record.last_used_at = utcnow()
        session.commit()
        return Principal(record.name, Role[record.role])
