"""What a batching engine (llama.cpp's or transformers') is asked for and hands back, token by token."""

import queue
from dataclasses import dataclass, field

from core.errors import LMUnavailable


@dataclass
class Request:
    """One reply to write. The engine puts token ids on `tokens`, then `Finished` (or an exception)."""

    prompt: list[int]
    max_new_tokens: int
    temperature: float
    seed: int
    prefix: int = 0  # leading prompt tokens many requests share (the system message): their KV may be reused
    adapter: str | None = None  # the LoRA adapter this reply is written with; None: the base model
    grammar: str | None = None  # GBNF the reply must follow (llama.cpp only): a JSON form, for instance
    # Token ids whose logits for the reply's first token to hand back (as `Scores`) instead of writing a reply: the
    # judge's yes/no (dialogue/lm/choices.py). llama.cpp's engine only.
    score: frozenset[int] | None = None
    tokens: "queue.SimpleQueue" = field(default_factory=queue.SimpleQueue)
    cancelled: bool = False  # set when the reader has gone: the engine drops the request at its next step


@dataclass(frozen=True)
class Finished:
    end_of_text: bool  # False: stopped by max_new_tokens, the context size, or cancellation
    reused_tokens: int


class Overloaded(LMUnavailable):
    """More replies are waiting than the engine's queue allows (HELPDESK_LM_QUEUE)."""


@dataclass(frozen=True)
class Scores:
    logits: dict[int, float]  # token id -> its logit as the reply's first token


@dataclass
class EngineStats:
    requests: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV was already there (a slot's or a shared prefix's)
    new_tokens: int = 0
    steps: int = 0
    busiest_step: int = 0  # most replies decoded in one step
    decode_seconds: float = 0.0  # time in steps that computed no prompt tokens, only replies' next tokens
    decode_tokens: int = 0
    out_of_memory: int = 0  # replies failed by out-of-memory errors
    overloaded: int = 0  # requests refused because the queue was full
