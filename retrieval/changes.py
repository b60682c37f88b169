"""The index version in the database, so that every server process sees every knowledge change.

A write bumps the single `index_state.version` row inside its own transaction and logs the entries it
touched under that version. The UPDATE holds the row lock until commit, so versions become visible in
order: a process that sees version v knows every change up to v is committed, and catches up by
re-reading just the entries logged after the version its index reflects.
"""

from sqlalchemy import BigInteger, Integer, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from retrieval.storage import Base

_STATE_ID = 1


class IndexStateRecord(Base):
    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class IndexChangeRecord(Base):
    __tablename__ = "index_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, index=True)
    entry: Mapped[int] = mapped_column(BigInteger)


def record_changes(session: Session, entries: list[int]) -> int:
    """Log `entries` as changed in the caller's transaction; returns the new index version."""
    version = session.scalar(
        update(IndexStateRecord).where(IndexStateRecord.id == _STATE_ID)
        .values(version=IndexStateRecord.version + 1).returning(IndexStateRecord.version)
    )
    if version is None:  # a database created before the row existed
        session.add(IndexStateRecord(id=_STATE_ID, version=1))
        session.flush()
        version = 1
    session.add_all([IndexChangeRecord(version=version, entry=entry) for entry in dict.fromkeys(entries)])
    return version


def current_version(session: Session) -> int:
    return session.scalar(select(IndexStateRecord.version).where(IndexStateRecord.id == _STATE_ID)) or 0


def changed_since(session: Session, version: int, up_to: int) -> list[int]:
    return list(session.scalars(
        select(IndexChangeRecord.entry).where(IndexChangeRecord.version > version,
                                              IndexChangeRecord.version <= up_to).distinct()
    ))

