"""Multi-turn context: turning "And for accessories?" into a query that retrieval can answer alone."""

import re

# A message that leans on the previous one: it opens like a continuation or points back with a pronoun.
_CONTINUATION = re.compile(r"^\s*(and|also|what about|how about|same for|what if|or)\b", re.IGNORECASE)
_POINTER = re.compile(r"\b(it|its|it's|this|that|they|them|those|these|one|there)\b", re.IGNORECASE)
_MAX_FOLLOW_UP_WORDS = 9


def is_follow_up(message: str) -> bool:
    words = message.split()
    if len(words) > _MAX_FOLLOW_UP_WORDS:
        return False
    return bool(_CONTINUATION.match(message) or _POINTER.search(message))


def rewrite_follow_up(message: str, previous_user_messages: list[str]) -> str:
    """The retrieval query for `message`: itself, or prefixed with the customer's previous message.

    Sentence embeddings of "<previous message> <follow-up>" land near the FAQ that answers the follow-up
    in context (tests/test_dialogue.py shows the retrieved FAQ changing). Only the last user message is
    used, so that a long conversation does not drag old topics into every query.
    """
    if not previous_user_messages or not is_follow_up(message):
        return message
    return f"{previous_user_messages[-1].strip()} {message.strip()}"
