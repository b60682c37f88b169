"""The FAQs a fallback suggests, as buttons: "Is your question one of these?" (dialogue/policy.py `suggestions`).

Each button's payload is `/faq{"id": 12}` (Rasa's payload convention, short enough for Telegram's 64-byte
callback data); pressing it, or saying yes to a lone suggestion, gets that FAQ's curated answer. The customer's
turn is recorded as the FAQ's question, not as the payload, so the transcript reads as the customer chose it.
"""

import json

from dialogue.actions.tracker import read_payload
from dialogue.messages import Button, Reply, ReplyKind, Source
from retrieval.faqs import Faq
from retrieval.hits import Hit

FAQ_INTENT = "faq"


def faq_button(hit: Hit) -> Button:
    return Button(hit.faq.question, f"/{FAQ_INTENT}{json.dumps({'id': hit.faq.id})}")


def chosen_answer(conversation_id: int, faq: Faq) -> Reply:
    """The curated answer of the FAQ the customer chose from the fallback's suggestions."""
    return Reply(faq.answer, ReplyKind.FAQ, conversation_id, [Source(id=faq.id, title=faq.question)])


def chosen_faq(text: str) -> int | None:
    """The FAQ id a suggestion's button sends, else None."""
    payload = read_payload(text)
    if payload is None or payload.name != FAQ_INTENT or not payload.entities:
        return None
    faq_id = payload.entities.get("id")
    return faq_id if isinstance(faq_id, int) and not isinstance(faq_id, bool) and faq_id > 0 else None


def suggested_ids(payloads: list[str]) -> list[int]:
    """The FAQs among buttons' payloads, in order."""
    return [faq_id for payload in payloads if (faq_id := chosen_faq(payload)) is not None]


def suggested_faqs(reply: Reply) -> set[int]:
    """The FAQs a reply suggests."""
    return set(suggested_ids([button.payload for button in reply.buttons]))


def lone_suggestion(payloads: list[str]) -> int | None:
    """The FAQ of a fallback that suggested exactly one, so that "yes" chooses it."""
    chosen = suggested_ids(payloads)
    return chosen[0] if len(chosen) == 1 else None
