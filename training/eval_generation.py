"""The evaluation gate for reply models: the same test prompts through the base model and the adapter(s).

Metrics (higher is better unless said):
- rouge_l: ROUGE-L F1 (rouge-score, stemmed) of the reply against the reference answer, on answerable
  prompts, citation marks removed from both;
- groundedness: share of reply sentences supported by the prompt's snippets (dialogue/grounding.py),
  on answerable prompts;
- refusal_accuracy: share of unanswerable prompts (no snippet holds the answer) that the model declines;
- answered: share of answerable prompts it does *not* decline (1 − false refusals);
- latency: mean and 95th percentile seconds per reply, and generated tokens per second (lower latency is
  better; not a gate metric, it depends on the machine).
"""

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from dialogue.grounding import groundedness, is_refusal
from training.datasets import Example, split_fingerprint

_CITATION = re.compile(r"\s*\[\d+(?:,\s*\d+)*\]")


@dataclass(frozen=True)
class Output:
    reference: str
    reply: str
    answerable: bool
    refused: bool
    rouge_l: float | None
    groundedness: float | None
    seconds: float
    new_tokens: int


@dataclass(frozen=True)
class Scores:
    rouge_l: float
    groundedness: float
    refusal_accuracy: float
    answered: float
    latency_mean_s: float
    latency_p95_s: float
    tokens_per_second: float
    examples: int


@dataclass(frozen=True)
class Report:
    test_fingerprint: str
    examples: int
    max_new_tokens: int
    scores: dict[str, Scores]  # model name → scores, in the order evaluated
    outputs: dict[str, list[Output]]

    def as_card_scores(self) -> dict:
        return {"test_fingerprint": self.test_fingerprint, "examples": self.examples,
                "max_new_tokens": self.max_new_tokens,
                "models": {name: asdict(scores) for name, scores in self.scores.items()}}


def rouge_l(reply: str, reference: str) -> float:
    return _scorer().score(_CITATION.sub("", reference), _CITATION.sub("", reply))["rougeL"].fmeasure


_SCORERS: dict = {}


def _scorer():
    if "rougeL" not in _SCORERS:
        from rouge_score import rouge_scorer

        _SCORERS["rougeL"] = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return _SCORERS["rougeL"]


def run_examples(generate: Callable, examples: Sequence[Example], max_new_tokens: int) -> list[Output]:
    """`generate(messages, max_new_tokens=..., temperature=...)` is a `Generator.generate`; greedy decoding."""
    outputs = []
    for example in examples:
        generation = generate(example.messages, max_new_tokens=max_new_tokens, temperature=0.0)
        refused = is_refusal(generation.text) or not generation.text.strip()
        outputs.append(Output(
            reference=example.target,
            reply=generation.text,
            answerable=example.answerable,
            refused=refused,
            rouge_l=rouge_l(generation.text, example.target) if example.answerable else None,
            groundedness=groundedness(generation.text, example.snippets) if example.answerable else None,
            seconds=generation.seconds,
            new_tokens=generation.new_tokens,
        ))
    return outputs


def score(outputs: Sequence[Output]) -> Scores:
    answerable = [o for o in outputs if o.answerable]
    unanswerable = [o for o in outputs if not o.answerable]
    grounded = [o.groundedness for o in answerable if o.groundedness is not None]
    seconds = sorted(o.seconds for o in outputs)
    return Scores(
        rouge_l=_mean([o.rouge_l for o in answerable]),
        groundedness=_mean(grounded),
        refusal_accuracy=_mean([o.refused for o in unanswerable]),
        answered=_mean([not o.refused for o in answerable]),
        latency_mean_s=round(sum(seconds) / len(seconds), 3) if seconds else 0.0,
        latency_p95_s=round(seconds[min(len(seconds) - 1, math.ceil(0.95 * len(seconds)) - 1)], 3) if seconds else 0.0,
        tokens_per_second=round(sum(o.new_tokens for o in outputs) / max(sum(seconds), 1e-9), 1),
        examples=len(outputs),
    )


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def evaluate(models: dict[str, Callable[[], Callable]], examples: Sequence[Example],
             max_new_tokens: int) -> Report:
    """`models` maps a name to a function that makes that model the one serving and returns its `generate`."""
    scores, outputs = {}, {}
    for name, activate in models.items():
        generate = activate()
        outputs[name] = run_examples(generate, examples, max_new_tokens)
        scores[name] = score(outputs[name])
    return Report(split_fingerprint(examples), len(examples), max_new_tokens, scores, outputs)


def pick(examples: Sequence[Example], limit: int | None) -> list[Example]:
    """`limit` examples spread over the test FAQs, answerable and unanswerable in their proportions."""
    if not limit or limit >= len(examples):
        return list(examples)
    positive = _round_robin([e for e in examples if e.answerable])
    negative = _round_robin([e for e in examples if not e.answerable])
    share = len(negative) / len(examples)
    n_negative = min(len(negative), max(1 if negative else 0, round(limit * share)))
    return positive[: limit - n_negative] + negative[:n_negative]


def _round_robin(examples: list[Example]) -> list[Example]:
    """One example of each group in turn, so that a short run does not test a single FAQ."""
    by_group: dict[str, list[Example]] = {}
    for example in examples:
        by_group.setdefault(example.group, []).append(example)
    queues = list(by_group.values())
    ordered = []
    for index in range(max((len(q) for q in queues), default=0)):
        ordered += [queue[index] for queue in queues if index < len(queue)]
    return ordered


# -- report files --------------------------------------------------------------------------------------------

ROWS = [
    ("rouge_l", "ROUGE-L F1 (answerable)"),
    ("groundedness", "groundedness (answerable)"),
    ("refusal_accuracy", "correct refusals (unanswerable)"),
    ("answered", "answered (answerable)"),
    ("latency_mean_s", "latency mean, s"),
    ("latency_p95_s", "latency p95, s"),
    ("tokens_per_second", "generated tokens/s"),
]


def markdown(report: Report, title: str) -> str:
    names = list(report.scores)
    answerable = sum(o.answerable for o in next(iter(report.outputs.values())))
    lines = [f"# {title}", "",
             f"{report.examples} test prompts ({answerable} answerable, {report.examples - answerable} "
             f"unanswerable), greedy decoding, at most {report.max_new_tokens} new tokens. Test set "
             f"fingerprint `{report.test_fingerprint[:12]}`.", "",
             "| metric | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for key, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(f"{getattr(report.scores[n], key):.3f}" for n in names) + " |")
    lines += ["", "## First replies", ""]
    for index, example_outputs in enumerate(zip(*report.outputs.values())):
        if index == 5:
            break
        lines.append(f"**Reference** ({'answerable' if example_outputs[0].answerable else 'unanswerable'}): "
                     f"{example_outputs[0].reference}")
        for name, output in zip(names, example_outputs):
            lines.append(f"- *{name}*: {output.reply}")
        lines.append("")
    return "\n".join(lines)


def write_report(report: Report, folder: Path, stem: str, title: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    data = report.as_card_scores() | {"outputs": {n: [asdict(o) for o in outs] for n, outs in report.outputs.items()}}
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    md_path.write_text(markdown(report, title))
    return json_path, md_path
