"""The PolyAI Banking77 CSVs as a knowledge base (one FAQ per intent) and its test utterances as queries."""

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from retrieval.benchmarks import NO_ANSWER
from retrieval.faqs import FaqDraft, make_draft


@dataclass(frozen=True)
class Banking77:
    drafts: list[FaqDraft]  # one FAQ per intent; its train utterances are its questions
    queries: list[tuple[str, str]]  # (test utterance, intent)
    intents: list[str]  # of each draft, as the CSV spells it (tags are lower-cased)


def load_banking77(folder: Path, max_train_per_intent: int | None = None, max_test_per_intent: int | None = None,
                   intents: int | None = None) -> Banking77:
    """The PolyAI Banking77 CSVs (`text,category`); the limits make small, stratified subsets for tests."""
    train, test = _by_intent(folder / "train.csv"), _by_intent(folder / "test.csv")
    chosen = sorted(train)[:intents] if intents else sorted(train)
    drafts = [make_draft(texts[0], NO_ANSWER, texts[1:max_train_per_intent], ["banking77", intent])
              for intent, texts in ((i, train[i]) for i in chosen)]
    queries = [(text, intent) for intent in chosen for text in test.get(intent, [])[:max_test_per_intent]]
    return Banking77(drafts, queries, chosen)


def _by_intent(path: Path) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            grouped[row["category"]].append(row["text"].strip())
    return grouped
