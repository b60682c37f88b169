"""The chat prompt for generated answers: instructions, profile facts, snippets, recent turns, the message."""

from dataclasses import dataclass
from typing import Callable

from retrieval.hits import Hit

INSTRUCTIONS = (
    "You are the customer support assistant of {company}. Answer the customer's question using only facts "
    "from the knowledge snippets that come with it, and cite the snippet you used like [1]. If the snippets "
    "do not answer the question, say that you do not know and offer to connect the customer with a person. "
    "Never invent prices, dates, policies or links. Answer in at most three short sentences."
)


@dataclass(frozen=True)
class HistoryTurn:
    role: str  # "user" or "assistant"
    text: str


def build_prompt(
    *,
    company: str,
    message: str,
    snippets: list[Hit],
    profile_facts: list[str],
    history: list[HistoryTurn],
    count_tokens: Callable[[str], int],
    history_token_budget: int,
) -> list[dict[str, str]]:
    """Chat messages for the model's own chat template; `history` is oldest first, without `message`.

    The snippets travel in the last user turn, right before the question, not in the system prompt: the
    small default model copies facts from there far more faithfully (see docs/generation.md).
    """
    system = [INSTRUCTIONS.format(company=company)]
    if profile_facts:
        system.append("What we know about this customer:\n" + "\n".join(f"- {fact}" for fact in profile_facts))
    messages = [{"role": "system", "content": "\n\n".join(system)}]
    messages += [{"role": turn.role, "content": turn.text} for turn in recent_within(history, count_tokens,
                                                                                     history_token_budget)]
    snippet_text = "\n".join(
        f"[{number}] {hit.title}\n{hit.text}" for number, hit in enumerate(snippets, start=1))
    messages.append({"role": "user", "content": f"Knowledge snippets:\n{snippet_text}\n\nCustomer question: {message}"})
    return messages


def recent_within(history: list[HistoryTurn], count_tokens: Callable[[str], int], budget: int) -> list[HistoryTurn]:
    """The newest turns whose tokens fit in `budget`, oldest first."""
    kept: list[HistoryTurn] = []
    for turn in reversed(history):
        budget -= count_tokens(turn.text)
        if budget < 0:
            break
        kept.append(turn)
    return kept[::-1]
