"""Stored conversations as plain records: exported as JSONL for review, and mined for training pairs."""

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dialogue.messages import TurnRole
from dialogue.records import ConversationRecord, TurnRecord

PAGE = 200


@dataclass(frozen=True)
class ExportedTurn:
    id: int
    role: str  # a TurnRole value
    kind: str
    text: str
    sources: list[dict]
    model_id: str | None
    feedback: int | None  # 1 thumbs up, -1 thumbs down
    created_at: str


@dataclass(frozen=True)
class ExportedConversation:
    id: int
    customer_id: int
    channel: str
    status: str
    started_at: str
    turns: list[ExportedTurn]

    def to_dict(self) -> dict:
        """The exported record. `user_id` repeats `customer_id` under its older name for readers of earlier
        exports: deprecated, to be removed in a later release (docs/learning.md)."""
        data = {}
        for name, value in asdict(self).items():
            data[name] = value
            if name == "customer_id":
                data["user_id"] = value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ExportedConversation":
        """A record as to_dict writes it, or as earlier exports did (`user_id` only)."""
        fields = {name: value for name, value in data.items() if name != "user_id"}
        fields.setdefault("customer_id", data.get("user_id"))
        return cls(**{**fields, "turns": [ExportedTurn(**turn) for turn in data["turns"]]})


def iter_conversations(sessions: sessionmaker, since: datetime | None = None,
                       only_rated: bool = False) -> Iterator[ExportedConversation]:
    """Every conversation with its turns, oldest first, read a page at a time so memory stays flat.

    `only_rated` keeps the conversations where a person left a signal: a thumbs up/down or an agent answer.
    """
    last_id = 0
    while True:
        with sessions() as session:
            query = select(ConversationRecord).where(ConversationRecord.id > last_id)
            if since is not None:
                query = query.where(ConversationRecord.last_activity_at >= since)
            conversations = session.scalars(query.order_by(ConversationRecord.id).limit(PAGE)).all()
            if not conversations:
                return
            turns_of: dict[int, list[TurnRecord]] = {c.id: [] for c in conversations}
            for turn in session.scalars(select(TurnRecord).where(TurnRecord.conversation_id.in_(list(turns_of)))
                                        .order_by(TurnRecord.id)):
                turns_of[turn.conversation_id].append(turn)
        for conversation in conversations:
            turns = [_turn(t) for t in turns_of[conversation.id]]
            if only_rated and not any(t.feedback is not None or t.role == TurnRole.AGENT for t in turns):
                continue
            yield ExportedConversation(conversation.id, conversation.customer_id, conversation.channel,
                                       conversation.status, _iso(conversation.started_at), turns)
        last_id = conversations[-1].id


def _turn(record: TurnRecord) -> ExportedTurn:
    return ExportedTurn(record.id, record.role, record.kind, record.text, list(record.sources or []),
                        record.model_id, record.feedback, _iso(record.created_at))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def write_jsonl(conversations: Iterator[ExportedConversation], out: IO[str]) -> int:
    count = 0
    for conversation in conversations:
        out.write(json.dumps(conversation.to_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count


def read_jsonl(path: Path) -> list[ExportedConversation]:
    with path.open(encoding="utf-8") as file:
        return [ExportedConversation.from_dict(json.loads(line)) for line in file if line.strip()]
