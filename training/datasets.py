"""Training data for the reply model, formatted exactly as the bot prompts at serving time.

Sources become question/answer pairs, each with the knowledge snippet(s) that hold its answer:
- an FAQ: each of its questions and alternative questions → its curated answer; the snippet is the FAQ;
- a stored conversation: a customer message → the human agent's reply, or → a bot reply the customer gave a
  thumbs up (the FAQs the bot cited are its snippets; an agent reply with no FAQ is its own snippet);
- a CSV file with question and answer columns (an optional group column, e.g. an intent); the answer is
  its own snippet.

Pairs become examples through `dialogue.prompt.build_prompt`, the very function the bot uses, with the
gold snippet among the nearest snippets of other groups (what the retriever would return), at a random
position, and the target citing it. A share of pairs also becomes an *unanswerable* example: the same
question with only other groups' snippets, whose target is the bot's fallback text, so the model learns to
say it cannot help.

The train/validation/test split is by group (FAQ, intent, conversation), never by row, so the test set
holds questions about things the model never saw answered.
"""

import csv
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dialogue.manager import FALLBACK_TEXT
from dialogue.messages import ReplyKind, TurnRole
from dialogue.prompt import build_prompt
from retrieval.faqs import Faq
from retrieval.hits import Hit
from training.conversations import ExportedConversation
from training.errors import DatasetError

SPLITS = ("train", "validation", "test")
REFUSAL_TEXT = FALLBACK_TEXT  # the model's "I cannot help" is the bot's own fallback wording
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_CITATION = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Snippet:
    question: str
    answer: str


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    group: str  # the unit of the split: "faq:12", "csv:bitext:cancel_order", "conversation:7"
    source: str  # "faq", "conversation", "csv:<file name>"
    knowledge: tuple[Snippet, ...]  # the snippet(s) that hold the answer


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


# -- sources -------------------------------------------------------------------------------------------------

def pairs_from_faqs(faqs: Iterable[Faq]) -> list[QAPair]:
    pairs = []
    for faq in faqs:
        snippet = Snippet(faq.question, faq.answer)
        for question in [faq.question, *faq.alt_questions]:
            pairs.append(QAPair(question, faq.answer, f"faq:{faq.id}", "faq", (snippet,)))
    return pairs


def pairs_from_conversations(conversations: Iterable[ExportedConversation],
                             faqs_by_id: Mapping[int, Faq]) -> list[QAPair]:
    """Agent replies and thumbs-up bot replies, each answering the customer's last message before it.

    Thumbs-down replies are left out: they say what not to answer, which this loss cannot learn from.
    """
    pairs = []
    for conversation in conversations:
        asked: str | None = None
        for turn in conversation.turns:
            if turn.role == TurnRole.USER:
                asked = turn.text
                continue
            answered = turn.kind in (ReplyKind.FAQ, ReplyKind.GENERATED)
            useful = turn.role == TurnRole.AGENT or (turn.feedback == 1 and answered)
            if useful and asked and turn.text.strip():
                pairs.append(_conversation_pair(conversation.id, asked, turn, faqs_by_id))
    return pairs


def _conversation_pair(conversation_id: int, question: str, turn, faqs_by_id: Mapping[int, Faq]) -> QAPair:
    answer = _CITATION.sub("", turn.text).strip()  # citations are re-numbered for the new prompt
    cited = [faqs_by_id[s["id"]] for s in turn.sources if s.get("id") in faqs_by_id]
    if cited:
        knowledge = tuple(Snippet(faq.question, faq.answer) for faq in cited)
        return QAPair(question, answer, f"faq:{cited[0].id}", "conversation", knowledge)
    return QAPair(question, answer, f"conversation:{conversation_id}", "conversation",
                  (Snippet(question, answer),))


def read_qa_csv(path: Path, question_column: str = "question", answer_column: str = "answer",
                group_column: str | None = None, placeholders: Mapping[str, str] | None = None) -> list[QAPair]:
    """Pairs from a CSV file; every problem is reported (with row numbers) before any training starts.

    `{{Placeholder}}` slots (Bitext writes them for company facts and UI labels) are filled from
    `placeholders`; a slot without a value becomes its own name, unbraced ("the {{Order History}} page" →
    "the Order History page"). The same text is in the snippet and the target, so the model learns to copy
    facts from snippets, never to invent them, and never to answer with braces.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        columns = reader.fieldnames or []
        wanted = [question_column, answer_column] + ([group_column] if group_column else [])
        if missing := [c for c in wanted if c not in columns]:
            raise DatasetError(f"{path.name}: missing column(s) {', '.join(missing)}; the file has "
                               f"{', '.join(columns) or 'no header'}. Name them with --question-column, "
                               "--answer-column and --group-column.")
        rows = [(number, row) for number, row in enumerate(reader, start=2)]  # row 1 is the header
    fill = _placeholder_filler(placeholders or {})
    problems, seen, records = [], {}, []
    for number, row in rows:
        question = (row.get(question_column) or "").strip()
        answer = fill((row.get(answer_column) or "").strip())
        if not question or not answer:
            problems.append(f"row {number}: empty {'question' if not question else 'answer'}")
            continue
        key = (_normal(question), _normal(answer))
        if key in seen:
            problems.append(f"row {number}: duplicate of row {seen[key]}")
            continue
        seen[key] = number
        group = (row.get(group_column) or "").strip() if group_column else f"row-{number}"
        records.append((question, answer, group or f"row-{number}"))
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise DatasetError(f"{path.name}: {len(problems)} unusable row(s): {shown}. Fix or remove them.")
    if not records:
        raise DatasetError(f"{path.name}: no rows.")
    return _csv_pairs(records, path.stem)


def _csv_pairs(records: list[tuple[str, str, str]], name: str) -> list[QAPair]:
    # The snippet's title is another question of the same group (as an FAQ's title differs from what the
    # customer typed); a one-row group uses its own question.
    questions_of = defaultdict(list)
    for question, _, group in records:
        questions_of[group].append(question)
    pairs = []
    for question, answer, group in records:
        others = [q for q in questions_of[group] if q != question]
        title = others[0] if others else question
        pairs.append(QAPair(question, answer, f"csv:{name}:{group}", f"csv:{name}", (Snippet(title, answer),)))
    return pairs


def _placeholder_filler(values: Mapping[str, str]) -> Callable[[str], str]:
    known = {key.strip().casefold(): value for key, value in values.items()}
    return lambda text: _PLACEHOLDER.sub(lambda m: known.get(m.group(1).casefold(), m.group(1)), text)


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


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
    pairs = _unique(pairs)
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


def _unique(pairs: Sequence[QAPair]) -> list[QAPair]:
    """Sources overlap (a thumbs-up FAQ reply repeats an FAQ pair): keep the first of each question/answer."""
    seen, kept = set(), []
    for pair in pairs:
        key = (_normal(pair.question), _normal(pair.answer))
        if key not in seen:
            seen.add(key)
            kept.append(pair)
    return kept


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


@dataclass(frozen=True)
class CsvSource:
    path: Path
    question_column: str = "question"
    answer_column: str = "answer"
    group_column: str | None = None
    placeholders: dict[str, str] = field(default_factory=dict)
