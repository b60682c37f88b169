"""Declared actions in SQL, kept in step with every process's search index like FAQs are.

A change is written, logged under a new index version with its vectors (retrieval/changes.py) and
audited in one transaction, then applied to this process's index: the next message here sees it, and
every other process on its next search (`SearchIndex.refresh`).
"""

import threading

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from core.database import utcnow
from retrieval.declared_actions.declarations import Action, ActionDraft, ActionRecord
from core.audit import SYSTEM, audit
from retrieval.changes import record_changes
from retrieval.embedder import Embedder
from retrieval.entries import action_entry
from retrieval.errors import ActionExists, ActionNotFound
from retrieval.search_index import SearchIndex, Upsert


class ActionCatalog:
    def __init__(self, sessions: sessionmaker, embedder: Embedder, index: SearchIndex, write_lock: threading.Lock):
        self.sessions = sessions
        self.embedder = embedder
        self.index = index
        self._write_lock = write_lock  # the knowledge base's: one writer at a time keeps versions in order

    def all(self) -> list[Action]:
        with self.sessions() as session:
            return [Action.from_record(r) for r in session.scalars(select(ActionRecord).order_by(ActionRecord.name))]

    def get(self, name: str) -> Action:
        with self.sessions() as session:
            record = session.scalar(select(ActionRecord).where(ActionRecord.name == name))
            if record is None:
                raise ActionNotFound(name)
            return Action.from_record(record)

    def get_by_id(self, action_id: int) -> Action | None:
        with self.sessions() as session:
            record = session.get(ActionRecord, action_id)
            return Action.from_record(record) if record is not None else None

    def create(self, draft: ActionDraft, actor: str = SYSTEM) -> Action:
        vectors = self.embedder.embed(draft.examples)  # before any write
        with self._write_lock:
            with self.sessions() as session:
                record = ActionRecord(name=draft.name, description=draft.description, examples=draft.examples,
                                      slots=[slot.to_record() for slot in draft.slots],
                                      content_hash=draft.content_hash)
                session.add(record)
                try:
                    session.flush()
                except IntegrityError:
                    raise ActionExists(draft.name) from None
                entry = action_entry(record.id)
                version = record_changes(session, [entry], {entry: (draft.content_hash, vectors)},
                                         self.embedder.model_id)
                audit(session, actor, "action.create", f"action:{draft.name}", examples=len(draft.examples),
                      slots=[slot.name for slot in draft.slots])
                session.commit()
                action = Action.from_record(record)
            self.index.apply(version, [Upsert(entry, draft.examples, vectors, draft.content_hash)], [])
        return action

    def replace(self, name: str, draft: ActionDraft, actor: str = SYSTEM) -> Action:
        """Change action `name` (a new name in the draft renames it); an identical declaration is a no-op."""
        vectors = self.embedder.embed(draft.examples)
        with self._write_lock:
            with self.sessions() as session:
                record = session.scalar(select(ActionRecord).where(ActionRecord.name == name))
                if record is None:
                    raise ActionNotFound(name)
                if record.content_hash == draft.content_hash:
                    return Action.from_record(record)
                record.name, record.description, record.examples = draft.name, draft.description, draft.examples
                record.slots = [slot.to_record() for slot in draft.slots]
                record.content_hash, record.version, record.updated_at = (
                    draft.content_hash, record.version + 1, utcnow())
                try:
                    session.flush()
                except IntegrityError:
                    raise ActionExists(draft.name) from None
                entry = action_entry(record.id)
                version = record_changes(session, [entry], {entry: (draft.content_hash, vectors)},
                                         self.embedder.model_id)
                audit(session, actor, "action.update", f"action:{name}", name=draft.name, version=record.version)
                session.commit()
                action = Action.from_record(record)
            self.index.apply(version, [Upsert(entry, draft.examples, vectors, draft.content_hash)], [])
        return action

    def upsert(self, draft: ActionDraft, actor: str = SYSTEM) -> str:
        """Import: "created", "updated" or "unchanged"."""
        with self.sessions() as session:
            digest = session.scalar(select(ActionRecord.content_hash).where(ActionRecord.name == draft.name))
        if digest is None:
            self.create(draft, actor)
            return "created"
        if digest == draft.content_hash:
            return "unchanged"
        self.replace(draft.name, draft, actor)
        return "updated"

    def delete(self, name: str, actor: str = SYSTEM) -> None:
        with self._write_lock:
            with self.sessions() as session:
                record = session.scalar(select(ActionRecord).where(ActionRecord.name == name))
                if record is None:
                    raise ActionNotFound(name)
                entry = action_entry(record.id)
                session.delete(record)
                version = record_changes(session, [entry])
                audit(session, actor, "action.delete", f"action:{name}")
                session.commit()
            self.index.apply(version, [], [entry])
