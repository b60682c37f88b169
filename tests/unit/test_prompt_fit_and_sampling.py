"""A prompt longer than the context loses its oldest history first and never fails (dialogue/lm/context_fit.py);
the next token is the argmax at temperature 0 and a draw from the top-k/top-p set above (dialogue/lm/sampling.py)."""

import pytest
import torch

from dialogue.lm.context_fit import fit_prompt
from dialogue.lm.sampling import TOP_K, pick

pytestmark = pytest.mark.unit


def render(messages):
    """A stand-in chat template: one token per word, plus two per message for its markers."""
    return [word for message in messages for word in ["<m>", *message["content"].split(), "</m>"]]


def conversation(turns: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "be helpful and brief"}]
    for i in range(turns):
        messages += [{"role": "user", "content": f"question{i} " * 10},
                     {"role": "assistant", "content": f"answer{i} " * 10}]
    return messages + [{"role": "user", "content": "snippets " * 20 + "the actual question?"}]


def test_a_prompt_that_fits_is_left_alone():
    messages = conversation(2)
    assert fit_prompt(messages, render, 1000) == render(messages)


def test_the_oldest_turns_go_first_and_the_newest_stay():
    messages = conversation(4)  # 4 + 2*4*12 + 24 + ... = 127 tokens
    tokens = fit_prompt(messages, render, 100)
    assert len(tokens) <= 100
    text = " ".join(tokens)
    assert "question0" not in text and "answer0" not in text
    assert "question3" in text and "answer3" in text and "the actual question?" in text
    assert text.startswith("<m> be helpful and brief </m> <m> question")  # a kept history starts with the customer


def test_a_message_alone_too_long_loses_its_start_but_keeps_the_question_and_instructions():
    messages = conversation(3)
    tokens = fit_prompt(messages, render, 20)
    text = " ".join(tokens)
    assert len(tokens) <= 20
    assert text.startswith("<m> be helpful and brief </m>") and text.endswith("the actual question? </m>")
    assert "question0" not in text


def test_instructions_longer_than_the_context_are_cut_rather_than_the_customers_message():
    messages = [{"role": "system", "content": "rule " * 50}, {"role": "user", "content": "hi there"}]
    tokens = fit_prompt(messages, render, 10)
    assert len(tokens) <= 10 and tokens[:2] == ["<m>", "rule"] and tokens[-4:] == ["<m>", "hi", "there", "</m>"]


def test_greedy_rows_take_the_argmax_and_sampled_rows_draw_from_the_top_set():
    logits = torch.full((2, 1000), -10.0)
    logits[:, 7] = 5.0
    logits[:, 8] = 4.9
    logits[1, 100:] = torch.linspace(-5, -3, 900)  # a long tail, together under 1% of the mass
    draws = {pick(logits, [0.0, 1.0], [None, torch.Generator().manual_seed(seed)])[1] for seed in range(40)}
    assert {pick(logits, [0.0, 1.0], [None, torch.Generator().manual_seed(seed)])[0] for seed in range(5)} == {7}
    assert draws <= {7, 8} and draws == {7, 8}  # top-p 0.9 keeps the two near-equal tokens, nothing of the tail


def test_a_seeded_draw_repeats_and_never_leaves_the_top_k():
    logits = torch.linspace(0, 1, 5000)[None, :]  # nearly flat: top-p alone would keep thousands
    first = [pick(logits, [2.0], [torch.Generator().manual_seed(3)])[0] for _ in range(3)]
    assert len(set(first)) == 1
    drawn = {pick(logits, [2.0], [torch.Generator().manual_seed(seed)])[0] for seed in range(200)}
    assert min(drawn) >= 5000 - TOP_K
