"""Sending replies to a platform: split to its limit, retry with backoff, record every outcome.

Platform connectors only say how to send one message and how a failure looks (`DeliveryFailed`);
retries, Retry-After, and the record that keeps a failed reply from being silently lost live here, once.
"""

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.connectors.ledger import Ledger
from bot.connectors.records import DeliveryRecord

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


class DeliveryFailed(Exception):
    """A platform refused or did not take a message.

    `retry_after`: the platform said when to try again (HTTP 429 Retry-After, Telegram's retry_after).
    `permanent`: trying again cannot help (bad token, unknown chat, bot blocked by the user).
    """

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, target: Mapping[str, Any], text: str) -> None:
        """Post one message of at most the platform's length; raise `DeliveryFailed` when it fails."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff_seconds: float = 1.0  # before the first retry; doubles each time, with jitter
    max_wait_seconds: float = 300.0  # the longest Retry-After we are willing to wait

    def backoff(self, attempt: int) -> float:
        # Jitter keeps many failed deliveries from retrying in lockstep against a recovering platform.
        delay = min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Outgoing:
    channel: str
    target: dict[str, Any]  # JSON-serialisable: it is stored with the delivery record
    parts: list[str]
    turn_id: int | None = None


@dataclass(frozen=True)
class DeliveryOutcome:
    sent: int
    failed: int
    errors: list[str] = field(default_factory=list)


class ReplyDelivery:
    """Platform replies, sent part by part with retries and recorded in the ledger (not core/outbox.py:
    that one holds outgoing webhook events)."""

    def __init__(self, ledger: Ledger, policy: RetryPolicy):
        self.ledger = ledger
        self.policy = policy

    async def deliver(self, sender: Sender, message: Outgoing) -> DeliveryOutcome:
        """Send the parts in order; once one part fails for good, the rest are recorded as not sent."""
        count = len(message.parts)
        ids = await self.ledger.add_deliveries([
            DeliveryRecord(channel=message.channel, target=message.target, turn_id=message.turn_id,
                           part=index, parts=count, text=text, status="pending", attempts=0)
            for index, text in enumerate(message.parts, start=1)
        ])
        return await self.resend(sender, message, ids)

    async def resend(self, sender: Sender, message: Outgoing, ids: list[int]) -> DeliveryOutcome:
        """Send `message.parts` recorded as deliveries `ids` (same order): after `deliver` recorded them,
        or after a crash left them pending."""
        count = len(ids)
        for position, (delivery_id, text) in enumerate(zip(ids, message.parts)):
            error = await self._send_with_retries(sender, message, delivery_id, text)
            if error is not None:
                skipped = ids[position + 1:]
                for later in skipped:
                    await self.ledger.update_delivery(
                        later, status="failed", last_error=f"not sent: part {position + 1} failed first")
                return DeliveryOutcome(position, count - position, [error])
        return DeliveryOutcome(count, 0)

    async def _send_with_retries(self, sender: Sender, message: Outgoing, delivery_id: int,
                                 text: str) -> str | None:
        """None when sent; otherwise the reason, already recorded and logged."""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                await sender.send(message.target, text)
            except DeliveryFailed as failure:
                reason = str(failure)
                asked = failure.retry_after
                delay = asked if asked is not None else self.policy.backoff(attempt)
                give_up = _give_up_reason(failure, attempt, delay, self.policy)
                if give_up:
                    await self.ledger.update_delivery(delivery_id, status="failed", attempts=attempt,
                                                      last_error=f"{reason} ({give_up})")
                    log.error("%s reply to %s not delivered after %d attempt(s): %s (%s); it is kept in "
                              "channel_deliveries #%d", message.channel, message.target, attempt, reason,
                              give_up, delivery_id)
                    return reason
                await self.ledger.update_delivery(delivery_id, attempts=attempt, last_error=reason)
                log.warning("%s delivery #%d attempt %d failed: %s; retrying in %.1f s",
                            message.channel, delivery_id, attempt, reason, delay)
                await asyncio.sleep(delay)
            except Exception as error:  # a bug or an SDK surprise: still recorded, never silently lost
                log.exception("%s delivery #%d failed unexpectedly", message.channel, delivery_id)
                await self.ledger.update_delivery(delivery_id, status="failed", attempts=attempt,
                                                  last_error=f"unexpected error: {error!r}")
                return repr(error)
            else:
                await self.ledger.update_delivery(delivery_id, status="sent", attempts=attempt)
                return None
        raise AssertionError("unreachable: the last attempt always gives up")


def _give_up_reason(failure: DeliveryFailed, attempt: int, delay: float, policy: RetryPolicy) -> str | None:
    if failure.permanent:
        return "permanent error, not retried"
    if attempt >= policy.attempts:
        return f"gave up after {attempt} attempts (HELPDESK_DELIVERY_ATTEMPTS)"
    if delay > policy.max_wait_seconds:
        return (f"the platform asked to wait {delay:.0f} s, more than HELPDESK_DELIVERY_MAX_WAIT_SECONDS="
                f"{policy.max_wait_seconds:.0f}")
    return None


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Cut `text` into parts of at most `limit` (as `measure` counts), at the most natural break.

    Prefers paragraph, then line, then sentence, then word boundaries in the second half of a part, so
    that no part is a tiny fragment; a single unbroken run longer than the limit is cut hard.
    """
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest) <= limit:
            parts.append(rest)
            break
        window = _longest_prefix(rest, limit, measure)
        cut = _natural_break(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [part for part in parts if part]


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> str:
    low, high = 1, min(len(text), limit)  # measure(c) >= len(c) for every measure we use
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if measure(text[:middle]) <= limit else (low, middle - 1)
    return text[:low]


def _natural_break(window: str) -> int:
    floor = len(window) // 2
    for separator in ("\n\n", "\n", ". ", "! ", "? ", " "):
        position = window.rfind(separator)
        if position >= floor:
            return position + len(separator)
    return len(window)
