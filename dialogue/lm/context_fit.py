"""A prompt that fits the model's context: the oldest history goes first, never an error.

`dialogue/prompt.py` already bounds the history by HELPDESK_HISTORY_TOKEN_BUDGET, but long snippets, a long
message or a small model context can still overflow what the model holds next to the reply. Then the
oldest turns of the conversation are dropped, one exchange at a time; if the system message and the
customer's message alone are still too long, the message loses text from its start (the snippets come
first in it, the question last); as the very last resort the rendered prompt keeps its last tokens.
"""

import logging
from collections.abc import Callable

from dialogue.lm.generator import ChatMessages

log = logging.getLogger(__name__)


def fit_prompt(messages: ChatMessages, render: Callable[[ChatMessages], list[int]], limit: int) -> list[int]:
    """The prompt tokens of `messages` (`render` applies the chat template), at most `limit` of them."""
    tokens = render(messages)
    if len(tokens) <= limit:
        return tokens
    before = len(tokens)
    system = messages[:1] if len(messages) > 1 and messages[0]["role"] == "system" else []
    history, last = list(messages[len(system):-1]), messages[-1]
    while history:
        history.pop(0)
        while history and history[0]["role"] != "user":  # a conversation starts with the customer
            history.pop(0)
        tokens = render(system + history + [last])
        if len(tokens) <= limit:
            log.info("The prompt had %d tokens, %d fit next to the reply: dropped the oldest turns (%d kept)",
                     before, limit, len(history))
            return tokens
    tokens = _shortened(system, last, render, limit)
    log.warning("The prompt had %d tokens, %d fit next to the reply: dropped the history and shortened the rest",
                before, limit)
    return tokens


def _shortened(system: ChatMessages, last: dict[str, str], render, limit: int) -> list[int]:
    """The last message losing text from its start; if the instructions alone do not leave room for it, the
    instructions losing text from their end instead (only when they are longer than the context)."""
    content = last["content"]
    keep = _longest(lambda n: system + [{**last, "content": content[len(content) - n:]}], len(content), render, limit)
    if keep > 0 or not system:
        return render(system + [{**last, "content": content[len(content) - keep:]}])[-limit:]
    instructions = system[0]["content"]
    keep = _longest(lambda n: [{**system[0], "content": instructions[:n]}, last], len(instructions), render, limit)
    return render([{**system[0], "content": instructions[:keep]}, last])[-limit:]


def _longest(messages_with, most: int, render, limit: int) -> int:
    """The largest n <= most for which `render(messages_with(n))` fits in `limit` (0 when none does)."""
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if len(render(messages_with(middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return low
