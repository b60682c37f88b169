"""How likely an LM's reply begins with each of a few words, read from its next-token probabilities.

The capable LM's yes/no judgements (dialogue/judgement.py) need a degree, not a verdict: one forward pass over
the prompt gives the logits of the reply's first token, and each word's probability is the sum over the tokens
that begin it ("yes", "Yes", " yes"), normalised over the words asked about. Normalising over those words only is
exact for their ratio: every token's softmax shares the same denominator.
"""

import math
from collections.abc import Callable, Iterable

ChoiceTokens = dict[str, frozenset[int]]


def choice_tokens(choices: Iterable[str], tokenize: Callable[[str], list[int]],
                  decode: Callable[[int], str]) -> ChoiceTokens:
    """The first token of each way a reply may begin with each word (as written, capitalised, after a space). A
    token two words share, or one that is only whitespace, tells nothing and is left out."""
    found: dict[str, set[int]] = {}
    for choice in choices:
        ids = found.setdefault(choice, set())
        for variant in {choice, choice.capitalize(), choice.upper(), " " + choice, " " + choice.capitalize()}:
            tokens = tokenize(variant)
            if tokens and decode(tokens[0]).strip():
                ids.add(tokens[0])
    shared = {token for a in found for b in found if a != b for token in found[a] & found[b]}
    return {choice: frozenset(ids - shared) for choice, ids in found.items()}


def choice_probabilities(logits: Callable[[int], float], tokens: ChoiceTokens) -> dict[str, float]:
    """Each word's share of the probability the words have together, from the first token's `logits(token)`."""
    values = {choice: [logits(token) for token in ids] for choice, ids in tokens.items()}
    top = max((value for row in values.values() for value in row), default=0.0)
    mass = {choice: sum(math.exp(value - top) for value in row) for choice, row in values.items()}
    total = sum(mass.values())
    if total <= 0:
        return {choice: 1 / len(mass) for choice in mass} if mass else {}
    return {choice: value / total for choice, value in mass.items()}


def from_logprobs(top_logprobs: list[dict], choices: Iterable[str]) -> dict[str, float] | None:
    """The same from an OpenAI-compatible server's `top_logprobs` of the first token ({"token", "logprob"}), or
    None when none of its candidates begins a word asked about."""
    choices = list(choices)
    mass = dict.fromkeys(choices, 0.0)
    for candidate in top_logprobs:
        word = str(candidate.get("token", "")).strip().lower()
        if word in mass and isinstance(candidate.get("logprob"), (int, float)):
            mass[word] += math.exp(candidate["logprob"])
    total = sum(mass.values())
    return {choice: value / total for choice, value in mass.items()} if total > 0 else None
