"""The KV cache of replies written together: a row's next-token logits are the same whether it is computed
alone or in a batch with rows of other lengths that joined and left (dialogue/lm/batch_cache.py), on a tiny
random Llama (transformers' real code at toy size)."""

import pytest
import torch

from dialogue.lm.batch_cache import BatchCache, decode_mask, prompt_mask
from tests.support.lm_models import tiny_llama

pytestmark = pytest.mark.unit


def _forward(model, cache: BatchCache, ids: list[list[int]], positions: list[list[int]], mask) -> torch.Tensor:
    output = model(input_ids=torch.tensor(ids), position_ids=torch.tensor(positions), attention_mask=mask,
                   use_cache=True, logits_to_keep=1, cache=cache.cache)
    cache.after_forward(len(ids[0]))
    return output.logits[:, -1, :]


def _prefilled(model, prompt: list[int]) -> tuple[BatchCache, torch.Tensor]:
    cache = BatchCache.empty(model.config, 1, torch.float32, torch.device("cpu"))
    mask = prompt_mask(cache, len(prompt), torch.float32)
    logits = _forward(model, cache, [prompt], [list(range(len(prompt)))], mask)
    return cache, logits


def _alone(model, prompt: list[int], steps: int) -> list[int]:
    """Greedy tokens of one reply computed on its own, with transformers' own cache."""
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps, do_sample=False,
                             min_new_tokens=steps, pad_token_id=0)
    return out[0, len(prompt):].tolist()


@torch.inference_mode()
def test_rows_of_different_lengths_joining_and_leaving_decode_as_they_would_alone():
    model = tiny_llama()
    prompts = [[5, 17, 42, 7, 99, 3, 250, 31], [11, 12], [300, 301, 302, 303, 304]]
    expected = [_alone(model, prompt, 6) for prompt in prompts]
    caches_and_logits = [_prefilled(model, prompt) for prompt in prompts]
    batch, rows = None, []
    for (cache, logits), prompt in zip(caches_and_logits, prompts):
        batch = cache if batch is None else batch.joined(cache)  # joined one at a time, as the engine does
        rows.append({"next": int(logits.argmax()), "position": len(prompt), "tokens": [int(logits.argmax())]})
    for step in range(5):
        if step == 2:  # the middle row leaves: the others go on with the leading columns only it used dropped
            rows.pop(1)
            expected.pop(1)
            batch = batch.kept([0, 2])
        logits = _forward(model, batch, [[row["next"]] for row in rows], [[row["position"]] for row in rows],
                          decode_mask(batch, torch.float32))
        for row, token in zip(rows, logits.argmax(dim=-1).tolist()):
            row["next"], row["position"] = token, row["position"] + 1
            row["tokens"].append(token)
    assert [row["tokens"] for row in rows] == expected


@torch.inference_mode()
def test_a_prefix_copied_from_another_reply_gives_the_same_next_token():
    model = tiny_llama(seed=1)
    prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    full, logits = _prefilled(model, prompt)
    reused = BatchCache.from_prefix(full.prefix(6), room=8)
    rest = prompt[6:]
    again = _forward(model, reused, [rest], [list(range(6, 10))], prompt_mask(reused, len(rest), torch.float32))
    torch.testing.assert_close(again, logits, rtol=1e-4, atol=1e-4)
    assert reused.columns == full.columns == 10


@torch.inference_mode()
def test_a_forward_pass_that_failed_part_way_leaves_the_cache_as_it_was():
    model = tiny_llama()
    cache, _ = _prefilled(model, [4, 5, 6])
    cache.layers[0].update(torch.zeros(1, 2, 1, 16), torch.zeros(1, 2, 1, 16))  # only the first layer wrote
    cache.settle()
    assert [layer.get_seq_length() for layer in cache.layers] == [3, 3]
