"""The next token of each reply in a batch: greedy at temperature 0, else top-k 50, top-p 0.9 and temperature
(the order and values transformers' `generate` and the llama.cpp backend use)."""

import torch

TOP_K = 50
TOP_P = 0.9


def pick(logits: torch.Tensor, temperatures: list[float], samplers: list[torch.Generator | None]) -> list[int]:
    """`logits` [rows, vocabulary] (float32); each sampled row draws from its own seeded generator."""
    chosen = logits.argmax(dim=-1).tolist()
    for row, temperature in enumerate(temperatures):
        if temperature > 0:
            chosen[row] = _sample(logits[row], temperature, samplers[row])
    return chosen


def _sample(logits: torch.Tensor, temperature: float, sampler: torch.Generator | None) -> int:
    top = torch.topk(logits / temperature, min(TOP_K, logits.shape[-1]))
    probabilities = torch.softmax(top.values, dim=-1)
    before = probabilities.cumsum(dim=-1) - probabilities
    probabilities = probabilities.masked_fill(before >= TOP_P, 0.0)  # the smallest set reaching TOP_P
    index = torch.multinomial(probabilities, 1, generator=sampler)
    return int(top.indices[index])
