"""The neutral messages every channel converts to and from."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from retrieval.entries import HitKind


class ReplyKind(StrEnum):
    FAQ = "faq"  # the curated answer, verbatim
    GENERATED = "generated"  # the LM's answer from retrieved snippets
    FALLBACK = "fallback"  # nothing relevant known; offers a person
    HANDOFF = "handoff"  # the conversation waits for a person
    ACTION = "action"  # an action: profile answers, greetings, restarts, forms and custom actions (docs/actions.md)


class TurnRole(StrEnum):
    """Who said a turn; stored as its value in `turns.role`."""

    USER = "user"  # the customer
    BOT = "bot"
    AGENT = "agent"  # a person answering through the inbox


class TurnKind(StrEnum):
    """The kind stored on a turn that is not the bot's, in `turns.kind`; a bot turn's kind is its ReplyKind."""

    MESSAGE = "message"  # the customer's message
    AGENT = "agent"  # a person's answer through the inbox


class HistoryEntry(NamedTuple):
    """One earlier turn of a conversation as the answer path reads it; a tuple, so `for role, text in` works."""

    role: TurnRole
    text: str


class HandoffReason(StrEnum):
    """Why a bot turn handed the conversation to a person; stored on the turn, so figures never depend on
    the reply's wording. A reply to a customer already waiting for a person has none."""

    ASKED = "asked"  # the customer asked for a person, or said yes to the fallback's offer
    FORM = "form"  # a form finished with no action server to run its action: a person takes it over


@dataclass(frozen=True)
class InboundMessage:
    channel: str
    sender_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # The platform's id for this message (unique per channel). Set, it makes answering idempotent: a message
    # replayed after a crash is recorded once and gets the reply already stored, if there is one.
    message_id: str | None = None
    # Whether the channel proved that `sender_id` sent it: Slack and Telegram sign their requests, the widget's
    # id is an unguessable secret of its browser, the CLI is the operator. REST and socket.io messages are
    # verified only with a signed token or the shared secret (bot/connectors/identity.py). Stored personal
    # data (the profile) is read back only to a verified sender.
    verified: bool = True


@dataclass(frozen=True)
class Source:
    id: int
    title: str
    # Set on generated replies, whose text cites sources as [1], [2], ... in this order.
    kind: HitKind | None = None  # FAQ or DOCUMENT
    url: str | None = None  # the page or file a document passage comes from
    snippet: str | None = None  # the text the reply was generated from

    def to_record(self) -> dict[str, Any]:
        """The stored form, one item of a bot turn's `sources` JSON: id, title, and kind when set (it tells
        document chunk ids from FAQ ids). url and snippet are not kept: the ids lead back to them."""
        return {"id": self.id, "title": self.title, **({"kind": self.kind.value} if self.kind else {})}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Source":
        kind = record.get("kind")
        return cls(id=record["id"], title=record["title"], kind=HitKind(kind) if kind else None)


@dataclass(frozen=True)
class Button:
    """A choice shown under a reply; pressing it sends `payload` as the customer's message (Rasa's convention)."""

    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    kind: ReplyKind
    conversation_id: int
    sources: list[Source] = field(default_factory=list)
    turn_id: int | None = None  # the stored bot turn; feedback refers to it
    # A generated reply that failed the check and was not sent: {"text", "reasons"} (docs/generation.md).
    rejected: dict | None = None
    # Custom actions' extras (Rasa's response fields): choices, a picture's URL, a free JSON payload.
    buttons: list[Button] = field(default_factory=list)
    image: str | None = None
    custom: dict | None = None
    handoff: HandoffReason | None = None  # set on the reply that hands the conversation over

    def extras(self) -> dict[str, Any]:
        """What a bot turn keeps besides its text, in its `metadata` JSON; {} for plain replies."""
        extras = {"buttons": [vars(button) for button in self.buttons], "image": self.image, "custom": self.custom}
        return {key: value for key, value in extras.items() if value}


def stored_payloads(metadata: dict | None) -> list[str]:
    """The payloads of the buttons a stored bot turn showed (`Reply.extras`)."""
    buttons = (metadata or {}).get("buttons")
    return [str(button.get("payload")) for button in buttons if isinstance(button, dict)] \
        if isinstance(buttons, list) else []
