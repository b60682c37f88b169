"""The neutral path every platform connector shares: deduplicate, answer in the background, deliver.

A connector verifies and parses its platform's request into a `PlatformEvent`, calls `accept` (one
database insert, no model work) and acknowledges; the dialogue manager and the platform API run later.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.connectors.background import BackgroundWork
from bot.connectors.delivery import Outbox, Outgoing
from bot.connectors.ledger import Ledger
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


class ChannelPipeline:
    def __init__(self, manager: DialogueManager, ledger: Ledger, outbox: Outbox, background: BackgroundWork):
        self.manager = manager
        self.ledger = ledger
        self.outbox = outbox
        self.background = background

    async def accept(self, platform: Platform, event: PlatformEvent) -> bool:
        """Claim the event and schedule its answer; False for a redelivery, which gets no second answer."""
        if not await self.ledger.claim(event.channel, event.keys):
            log.info("%s: ignored a redelivery of %s", event.channel, ", ".join(event.keys))
            return False
        self.background.spawn(self._answer(platform, event), name=f"{event.channel}:{event.keys[0]}")
        return True

    def relay(self, platform: Platform, channel: str, target: dict[str, Any], text: str, turn_id: int) -> None:
        """Deliver a person's reply (an agent answering a handoff) in the background, recorded like any other."""
        outgoing = Outgoing(channel, target, platform.split(text), turn_id)
        self.background.spawn(self.outbox.deliver(platform, outgoing), name=f"{channel}:agent-turn-{turn_id}")

    async def _answer(self, platform: Platform, event: PlatformEvent) -> None:
        for text, turn_id in await self._replies(event):
            outgoing = Outgoing(event.channel, event.target, platform.split(text), turn_id)
            await self.outbox.deliver(platform, outgoing)
        await self.ledger.mark_processed(event.channel, event.keys[0])

    async def _replies(self, event: PlatformEvent) -> list[tuple[str, int | None]]:
        if event.message is None:
            return [(event.notice, None)]
        try:
            replies = await self.manager.respond(event.message)
        except EmptyMessage:
            log.info("%s: ignored an empty message (%s)", event.channel, event.description)
            return []
        except MessageTooLong as error:
            return [(f"Your message is {error.length} characters long; I can read at most {error.limit}. "
                     "Please shorten it or send it in several parts.", None)]
        except Exception:
            # The customer's message is already stored; tell them, rather than leave them waiting.
            log.exception("%s: answering %s failed", event.channel, event.description)
            return [(SORRY_TEXT, None)]
        return [(reply.text, reply.turn_id) for reply in replies]
