"""Training data for the reply model, formatted exactly as the bot prompts at serving time.

Sources become question/answer pairs, each with the knowledge snippet(s) that hold its answer: FAQs and
stored conversations (training/qa_pairs.py), and CSV files with question and answer columns (an optional
group column, e.g. an intent; the answer is its own snippet: training/qa_csv.py).

Pairs become examples through `dialogue.prompt.build_prompt`, the very function the bot uses, with the
gold snippet among the nearest snippets of other groups (what the retriever would return), at a random
position, and the target citing it. A share of pairs also becomes an *unanswerable* example: the same
question with only other groups' snippets, whose target is the bot's fallback text, so the model learns to
say it cannot help.

The train/validation/test split is by group (FAQ, intent, conversation), never by row, so the test set
holds questions about things the model never saw answered.
"""

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dialogue.manager import FALLBACK_TEXT
from dialogue.prompt import build_prompt
from retrieval.faqs import Faq
from retrieval.hits import Hit
from training.errors import DatasetError
from training.qa_pairs import QAPair, Snippet, unique_pairs

SPLITS = ("train", "validation", "test")
REFUSAL_TEXT = FALLBACK_TEXT  # the model's "I cannot help" is the bot's own fallback wording


@dataclass(frozen=True)
class Example:
    question: str  # what the customer wrote
    messages: list[dict[str, str]]  # the prompt, as build_prompt makes it
    target: str  # the reply to learn
    answerable: bool
    group: str
    source: str
    snippets: list[str]  # the snippets' text as shown in the prompt (the groundedness check reads them)


@dataclass(frozen=True)
class DatasetOptions:
    company: str = "our company"
    snippets_in_prompt: int = 3
    unanswerable_share: float = 0.25  # extra unanswerable examples, as a share of the answerable ones
    validation_share: float = 0.1
    test_share: float = 0.1
    max_tokens: int = 512  # prompt + reply; longer examples first lose distractors, then are left out
    max_answer_chars: int = 400  # targets are cut at a sentence end near here: served replies are short
    seed: int = 42


@dataclass
class Dataset:
    splits: dict[str, list[Example]]
    options: DatasetOptions
    left_out_too_long: int = 0
    fingerprint: str = ""

    def summary(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "examples": {name: len(examples) for name, examples in self.splits.items()},
            "unanswerable": {name: sum(not e.answerable for e in examples) for name, examples in self.splits.items()},
            "groups": {name: len({e.group for e in examples}) for name, examples in self.splits.items()},
            "sources": dict(Counter(e.source for examples in self.splits.values() for e in examples)),
            "left_out_too_long": self.left_out_too_long,
        }


# -- split ---------------------------------------------------------------------------------------------------

def split_groups(groups: Sequence[str], options: DatasetOptions) -> dict[str, str]:
    """group → split name; at least one group in validation and in test."""
    ordered = sorted(set(groups))
    if len(ordered) < 3:
        raise DatasetError(f"Only {len(ordered)} FAQ(s)/intent(s) in the data: a train/validation/test split "
                           "by FAQ needs at least 3. Add FAQs or a CSV file.")
    random.Random(options.seed).shuffle(ordered)
    n_test = max(1, round(len(ordered) * options.test_share))
    n_validation = max(1, round(len(ordered) * options.validation_share))
    names = ["test"] * n_test + ["validation"] * n_validation
    names += ["train"] * (len(ordered) - len(names))
    return dict(zip(ordered, names))


# -- examples ------------------------------------------------------------------------------------------------

def build_dataset(pairs: Sequence[QAPair], options: DatasetOptions, embed: Callable[[list[str]], np.ndarray],
                  example_tokens: Callable[[Example], int]) -> Dataset:
    """Split by group, then turn every pair into prompt/target examples (see the module docstring).

    `embed` finds the distractor snippets; `example_tokens` counts an example's prompt + reply tokens as the
    model will see them (training.lm.example_tokens).
    """
    pairs = unique_pairs(pairs)
    split_of = split_groups([p.group for p in pairs], options)
    rng = random.Random(options.seed)
    fits = lambda example: example_tokens(example) <= options.max_tokens  # noqa: E731
    dataset = Dataset(splits={name: [] for name in SPLITS}, options=options)
    for name in SPLITS:
        in_split = [p for p in pairs if split_of[p.group] == name]
        neighbours = _distractor_candidates(in_split, embed, options.snippets_in_prompt * 4)
        for pair, candidates in zip(in_split, neighbours):
            for example in _examples_of(pair, candidates, options, rng, fits):
                if example is None:
                    dataset.left_out_too_long += 1
                else:
                    dataset.splits[name].append(example)
    for name in ("train", "test"):
        if not dataset.splits[name]:
            raise DatasetError(f"The {name} split is empty (every example was longer than max_tokens="
                               f"{options.max_tokens}?). Raise max_tokens or add data.")
    dataset.fingerprint = fingerprint(dataset)
    return dataset


def _distractor_candidates(pairs: list[QAPair], embed, how_many: int) -> list[list[Snippet]]:
    """For each pair, the snippets of *other* groups of its split whose titles are nearest its question."""
    if not pairs:
        return []
    group_of: dict[Snippet, str] = {}
    for pair in pairs:
        for snippet in pair.knowledge:
            group_of.setdefault(snippet, pair.group)
    snippets = list(group_of)
    groups = [group_of[s] for s in snippets]
    similarity = embed([p.question for p in pairs]) @ embed([s.question for s in snippets]).T
    result = []
    for row, pair in zip(similarity, pairs):
        nearest = []
        for i in np.argsort(-row):
            if groups[i] != pair.group:
                nearest.append(snippets[i])
                if len(nearest) == how_many:
                    break
        result.append(nearest)
    return result


def _examples_of(pair: QAPair, candidates: list[Snippet], options: DatasetOptions, rng: random.Random,
                 fits: Callable[[Example], bool]) -> list[Example | None]:
    """The answerable example and, for a share of pairs, an unanswerable one; None where nothing fits."""
    k = options.snippets_in_prompt
    gold = list(pair.knowledge[:k])
    shown = gold + candidates[: rng.randint(0, max(0, k - len(gold)))]
    rng.shuffle(shown)
    answer = _shorten(pair.answer, options.max_answer_chars)

    def answerable(snippets: list[Snippet]) -> Example:
        cite = " ".join(f"[{snippets.index(s) + 1}]" for s in gold)
        return _example(pair, snippets, f"{answer} {cite}", True, options)

    examples = [_fitted(shown, answerable, lambda s: s not in gold, fits)]
    # The single nearest other FAQ is skipped here: it is the likeliest to answer the question after all
    # (two FAQs on one topic), which would teach the model to refuse an answerable question.
    others = candidates[1:]
    if others and rng.random() < options.unanswerable_share:
        refusal = lambda snippets: _example(pair, snippets, REFUSAL_TEXT, False, options)  # noqa: E731
        examples.append(_fitted(others[: rng.randint(1, k)], refusal, lambda s: True, fits, keep=1))
    return examples


def _fitted(snippets: list[Snippet], make: Callable[[list[Snippet]], Example], droppable: Callable[[Snippet], bool],
            fits: Callable[[Example], bool], keep: int = 0) -> Example | None:
    """`make(snippets)`, dropping droppable snippets from the end until the example fits; None if it never does."""
    example = make(snippets)
    while not fits(example):
        drop = [i for i, s in enumerate(snippets) if droppable(s)]
        if not drop or len(snippets) <= keep:
            return None
        snippets = snippets[: drop[-1]] + snippets[drop[-1] + 1:]
        example = make(snippets)
    return example


def _example(pair: QAPair, shown: list[Snippet], target: str, answerable: bool, options: DatasetOptions) -> Example:
    hits = [Hit(_as_faq(s), 1.0, s.question) for s in shown]
    messages = build_prompt(company=options.company, message=pair.question, snippets=hits, profile_facts=[],
                            history=[], count_tokens=len, history_token_budget=0)
    return Example(pair.question, messages, target, answerable, pair.group, pair.source,
                   [f"{s.question}\n{s.answer}" for s in shown])


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _as_faq(snippet: Snippet) -> Faq:
    return Faq(id=0, question=snippet.question, answer=snippet.answer, alt_questions=[], tags=[], version=1,
               updated_at=_EPOCH)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _shorten(answer: str, limit: int) -> str:
    """Whole sentences up to about `limit` characters (always at least the first)."""
    if len(answer) <= limit:
        return answer
    kept, length = [], 0
    for sentence in _SENTENCE_END.split(answer):
        if kept and length + len(sentence) > limit:
            break
        kept.append(sentence.strip())
        length += len(sentence) + 1
    return " ".join(s for s in kept if s)


def fingerprint(dataset: Dataset) -> str:
    digest = hashlib.sha256(json.dumps(asdict(dataset.options), sort_keys=True).encode())
    for name in SPLITS:
        for example in dataset.splits[name]:
            digest.update(json.dumps([name, example.messages, example.target], ensure_ascii=False).encode())
    return digest.hexdigest()


def split_fingerprint(examples: Sequence[Example]) -> str:
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps([example.messages, example.target], ensure_ascii=False).encode())
    return digest.hexdigest()


# -- files ---------------------------------------------------------------------------------------------------

def write_examples(path: Path, examples: Sequence[Example]) -> None:
    with path.open("w", encoding="utf-8") as file:
        for example in examples:
            file.write(json.dumps(asdict(example), ensure_ascii=False) + "\n")


def read_examples(path: Path) -> list[Example]:
    with path.open(encoding="utf-8") as file:
        return [Example(**json.loads(line)) for line in file if line.strip()]

