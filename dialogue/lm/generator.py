"""The `Generator` role every LM backend plays, what a generation returns, and tidying its text."""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)
ChatMessages = list[dict[str, str]]
# Receives each piece of text as the LM writes it (whole words), in the generating thread.
TextCallback = Callable[[str], None]


@dataclass(frozen=True)
class Generation:
    text: str
    model_id: str
    prompt_tokens: int
    new_tokens: int
    seconds: float


class Generator(Protocol):
    model_id: str

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: ChatMessages, *, max_new_tokens: int, temperature: float,
                 on_text: TextCallback | None = None, json_schema: dict | None = None) -> Generation:
        """The whole answer; `on_text`, when given, sees it piece by piece while it is written. `json_schema`: the
        answer must be JSON of this schema; llama.cpp enforces it with a grammar, an OpenAI-compatible server
        with `response_format`, transformers only through what the prompt asks (docs/generation.md)."""
        ...


_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def tidy(text: str, cut_unfinished: bool) -> str:
    """Strip whitespace and, when generation hit the token limit, drop the unfinished last sentence."""
    text = text.strip()
    if cut_unfinished:
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        if ends:
            text = text[: ends[-1]].strip()
    return text
