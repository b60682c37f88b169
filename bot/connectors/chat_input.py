"""What the browser-facing chat channels (REST, widget, socket.io) share: bounded metadata and message ids.

A client that sends an id with each message (REST: `Idempotency-Key` header or `metadata.message_id`;
widget: `client_message_id`) can resend after a timeout or a crash without the message being stored or
answered twice: the resend gets the stored reply (see `ConversationStore.record_user_message`).
"""

import hashlib
from typing import Any

from bot.input_checks import InputRefused, Problem, check_metadata
from dialogue.messages import InboundMessage

MESSAGE_ID_PATTERN = r"^[\x21-\x7e]{1,200}$"  # printable ASCII: UUIDs, ULIDs, counters
MESSAGE_ID_DESCRIPTION = ("Your id for this message (printable ASCII, at most 200 characters). A resend with "
                          "the same id is answered with the reply already given and is not stored twice.")


def inbound(channel: str, sender: str, text: str, metadata: dict[str, Any] | None, *, max_metadata_bytes: int,
            verified: bool, message_id: str | None = None,
            metadata_loc: tuple[str | int, ...] = ("body", "metadata")) -> InboundMessage:
    """The neutral message; `verified`: whether the channel proved the sender (no default: each must say)."""
    metadata = check_metadata(metadata or {}, max_metadata_bytes, metadata_loc)
    raw_id = message_id if message_id is not None else metadata.get("message_id")
    if raw_id is not None:
        raw_id = _valid_id(raw_id, metadata_loc if message_id is None else ("header", "idempotency-key"))
    return InboundMessage(channel, sender, text, metadata,
                          message_id=scoped_message_id(sender, raw_id) if raw_id else None, verified=verified)


def scoped_message_id(sender: str, raw_id: str) -> str:
    # A client's id is unique only among its own sender's messages: hashed with the sender, two customers
    # choosing the same id never meet, and the key always fits the 255-character column.
    return "client:" + hashlib.sha256(f"{sender}\x00{raw_id}".encode()).hexdigest()[:48]


def _valid_id(value: Any, loc: tuple[str | int, ...]) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= 200 or not value.isascii() or not value.isprintable() \
            or " " in value:
        raise InputRefused(Problem((*loc, "message_id") if loc[0] == "body" else loc,
                                   "must be 1-200 printable ASCII characters without spaces.", "string_pattern"))
    return value
