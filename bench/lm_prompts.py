"""Realistic reply prompts for the LM benchmarks: the sample eval set's "partial" questions, each with the
sample FAQs it needs as snippets, through the bot's own prompt builder (dialogue/prompt.py)."""

from pathlib import Path
from types import SimpleNamespace

import yaml

from dialogue.prompt import build_prompt

ROOT = Path(__file__).resolve().parents[1]
LONG_REPLY = [{"role": "system", "content": "You are a helpful support assistant."},
              {"role": "user", "content": "Write a detailed paragraph on how to care for a smart thermostat."}]


def reply_prompts(count: int, count_tokens) -> list[list[dict[str, str]]]:
    faqs = {faq["question"]: faq for faq in yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())}
    partial = yaml.safe_load((ROOT / "bot/sample/eval.yaml").read_text())["partial"]
    prompts = []
    for item in (partial * (count // len(partial) + 1))[:count]:
        snippets = [SimpleNamespace(title=question, text=faqs[question]["answer"]) for question in item["faqs"]]
        # Third snippet: a neighbour, as retrieval usually returns three.
        snippets.append(next(SimpleNamespace(title=q, text=f["answer"]) for q, f in faqs.items()
                             if q not in item["faqs"]))
        prompts.append(build_prompt(company="Nimbus Home", message=item["query"], snippets=snippets,
                                    profile_facts=[], history=[], count_tokens=count_tokens,
                                    history_token_budget=0))
    return prompts
