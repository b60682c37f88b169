"""The neutral path every platform connector shares: deduplicate, answer in the background, deliver.

A connector verifies and parses its platform's request into a `PlatformEvent`, calls `accept` (one
database insert, no model work) and acknowledges; the dialogue manager and the platform API run later.
The insert stores the parsed event, so that if this process dies before the answer is delivered another
one (or the next start) answers it: see `bot.background.recovery`.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.connectors.background import BackgroundWork
from bot.connectors.delivery import ReplyDelivery, Outgoing
from bot.connectors.ledger import Ledger, PendingParts
from dialogue.errors import EmptyMessage, MessageTooLong
from dialogue.manager import DialogueManager
from dialogue.messages import InboundMessage

log = logging.getLogger(__name__)

SORRY_TEXT = (
    "Sorry, something went wrong on my side and I couldn't answer that. Please try again in a moment, "
    'or say "talk to a person".'
)


class Platform(Protocol):
    def split(self, text: str) -> list[str]:
        """Cut a reply into messages the platform accepts."""

    async def send(self, target: Mapping[str, Any], text: str) -> None:
        """Post one message; raise `DeliveryFailed` when it fails."""


@dataclass(frozen=True)
class Ignored:
    """A platform's update the bot does not answer (another bot's message, an event type it does not handle),
    and why: logged, and acknowledged to the platform so it is not retried."""

    reason: str


@dataclass(frozen=True)
class PlatformEvent:
    channel: str
    keys: list[str]  # dedup keys; a redelivery matches at least one
    target: dict[str, Any]  # where the answer goes
    message: InboundMessage | None = None  # answered by the dialogue manager ...
    notice: str | None = None  # ... or with this fixed text (a welcome, "I can only read text")
    description: str = field(default="")  # for logs

    def __post_init__(self) -> None:
        if (self.message is None) == (self.notice is None):
            raise ValueError("a PlatformEvent carries either a message or a notice")

    def to_payload(self) -> dict[str, Any]:
        """JSON-serialisable form, stored with the claim."""
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "PlatformEvent":
        message = payload.get("message")
        return cls(**{**payload, "message": InboundMessage(**message) if message else None})


class ChannelPipeline:
    def __init__(self, manager: DialogueManager, ledger: Ledger, delivery: ReplyDelivery, background: BackgroundWork):
        self.manager = manager
        self.ledger = ledger
        self.delivery = delivery
        self.background = background

    async def accept(self, platform: Platform, event: PlatformEvent) -> bool:
        """Claim the event and schedule its answer; False for a redelivery, which gets no second answer."""
        payload = event.to_payload()
        if event.message is not None:  # kept until answered, for recovery: masked like the turn it becomes
            masked = await asyncio.to_thread(self.manager.privacy.mask_message, event.message)
            payload["message"] = dataclasses.asdict(masked)
        if not await self.ledger.claim(event.channel, event.keys, payload):
            log.info("%s: ignored a redelivery of %s", event.channel, ", ".join(event.keys))
            return False
        self.answer_in_background(platform, event)
        return True

    def answer_in_background(self, platform: Platform, event: PlatformEvent) -> None:
        self.background.spawn(self._answer(platform, event), name=f"{event.channel}:{event.keys[0]}")

    def relay(self, platform: Platform, channel: str, target: dict[str, Any], text: str, turn_id: int) -> None:
        """Deliver a person's reply (an agent answering a handoff) in the background, recorded like any other."""
        outgoing = Outgoing(channel, target, platform.split(text), turn_id)
        self.background.spawn(self.delivery.deliver(platform, outgoing), name=f"{channel}:agent-turn-{turn_id}")

    def resend(self, platform: Platform, pending: PendingParts) -> None:
        """Send, in the background, deliveries that a stopped process recorded but did not send."""
        outgoing = Outgoing(pending.channel, pending.target, pending.texts, pending.turn_id)
        self.background.spawn(self.delivery.resend(platform, outgoing, pending.ids),
                              name=f"{pending.channel}:resend-{pending.ids[0]}")

    async def _answer(self, platform: Platform, event: PlatformEvent) -> None:
        for text, turn_id, buttons in await self._replies(event):
            if turn_id is not None and await self.ledger.has_deliveries(turn_id):
                continue  # a replay after a crash: these parts were queued before; recovery resends them
            for outgoing in _outgoing(event, platform.split(text), turn_id, buttons):
                await self.delivery.deliver(platform, outgoing)
        await self.ledger.mark_processed(event.channel, event.keys[0])

    async def _replies(self, event: PlatformEvent) -> list[tuple[str, int | None, list[dict[str, str]]]]:
        if event.message is None:
            return [(event.notice, None, [])]
        try:
            # The event key doubles as the message id: a replayed event is recorded and answered once.
            replies = await self.manager.respond(dataclasses.replace(event.message, message_id=event.keys[0]))
        except EmptyMessage:
            log.info("%s: ignored an empty message (%s)", event.channel, event.description)
            return []
        except MessageTooLong as error:
            return [(f"Your message is {error.length} characters long; I can read at most {error.limit}. "
                     "Please shorten it or send it in several parts.", None, [])]
        except Exception:
            # The customer's message is already stored; tell them, rather than leave them waiting.
            log.exception("%s: answering %s failed", event.channel, event.description)
            return [(SORRY_TEXT, None, [])]
        return [(reply.text, reply.turn_id, [vars(button) for button in reply.buttons]) for reply in replies]


def _outgoing(event: PlatformEvent, parts: list[str], turn_id: int | None,
              buttons: list[dict[str, str]]) -> list[Outgoing]:
    """A custom action's buttons go under the last part; they travel in the target, which is stored with the
    delivery, so a resend after a crash still carries them (the platform's `send` draws them)."""
    if not buttons:
        return [Outgoing(event.channel, event.target, parts, turn_id)]
    parts = parts or ["Please choose:"]
    last = Outgoing(event.channel, {**event.target, "buttons": buttons}, parts[-1:], turn_id)
    return [Outgoing(event.channel, event.target, parts[:-1], turn_id), last] if len(parts) > 1 else [last]
