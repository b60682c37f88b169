"""One customer alone on a GPU: the reply written through a static cache and a compiled decoding step.

The batching engine's steps are eager PyTorch. On a GPU a small model's eager step is bound by launching
~20 kernels per layer from Python, not by the GPU: 1.43 s for 60 tokens of the SmolLM2 architecture on an
H200, where `generate(cache_implementation="static")`, which compiles the decoding step (CUDA graphs: one
launch per step), took 0.20 s. So while exactly one reply (of the base model) is being written, the engine
writes it that way. When another request arrives, the solo reply stops after the token it just wrote, its
KV moves into the batch and both go on together there: nothing is computed twice and nobody waits for the
solo reply to end.

Compiled once at warm-up (`warm_up` returns the seconds it took): one call sizes the static cache to the
whole context, so every later reply reuses the same shapes and the compiled graph.
"""

import logging
import time
from collections.abc import Callable

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from dialogue.lm.requests import Request

log = logging.getLogger(__name__)

KV = list[tuple[torch.Tensor, torch.Tensor]]


class SoloPath:
    def __init__(self, model, eos: set[int], context_tokens: int):
        self.model, self.eos, self.context_tokens = model, eos, context_tokens
        self.device = next(model.parameters()).device

    def warm_up(self) -> float:
        """Compiles the decoding step (two short replies, the first sizing the cache); returns the seconds."""
        started = time.perf_counter()
        prompt = [min(self.eos) + 1] * max(1, self.context_tokens - 16)
        for _ in range(2):
            self.generate(Request(prompt, 8, 0.0, 0), lambda token: None, lambda: False)
        seconds = time.perf_counter() - started
        log.info("Compiled the one-reply decoding step in %.1f s (static cache of %d tokens)", seconds,
                 self.context_tokens)
        return seconds

    def generate(self, request: Request, on_token: Callable[[int], None], stop: Callable[[], bool]) -> KV:
        """Writes the reply, handing each token to `on_token`, until it ends or `stop()` says so; returns the
        KV of the cache (prompt and tokens written, but not the last one, which is not computed yet)."""
        ids = torch.tensor([request.prompt], device=self.device)
        sampling = ({"do_sample": True, "temperature": request.temperature, "top_p": 0.9, "top_k": 50}
                    if request.temperature > 0 else
                    {"do_sample": False, "temperature": None, "top_p": None, "top_k": None})
        room = max(1, min(request.max_new_tokens, self.context_tokens - len(request.prompt)))
        eos = sorted(self.eos)
        output = self.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=room, cache_implementation="static",
            streamer=_Tokens(on_token), stopping_criteria=StoppingCriteriaList([_Stop(stop)]),
            return_dict_in_generate=True, pad_token_id=eos[0], eos_token_id=eos, **sampling)
        cache = getattr(output, "cache", None) or output.past_key_values  # transformers 5.2x renamed it
        return [(layer.keys, layer.values) for layer in cache.layers]


class _Tokens:
    """A `generate` streamer: the first `put` is the prompt, every later one the token just chosen."""

    def __init__(self, on_token: Callable[[int], None]):
        self.on_token, self.prompt_seen = on_token, False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.on_token(int(token))

    def end(self) -> None:
        pass


class _Stop(StoppingCriteria):
    def __init__(self, stop: Callable[[], bool]):
        self.stop = stop

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.stop(), dtype=torch.bool, device=input_ids.device)
