"""Public datasets as knowledge bases: each intent becomes one FAQ whose alternative questions are its
training texts, and held-out texts become the questions customers ask.

`data_dir` is a folder holding the datasets in their published layout (`banking77/`, `banking77_oos/`,
`hwu64/`, `bitext_customer_support_4514/`, each with its README and license); nothing of them is copied
into the repository, and a missing one is a `DatasetMissing` naming the folder. Splits:
- `banking77`: train → FAQs (77), test → questions (no valid split exists);
- `banking77-oos`: train → FAQs (50 in-scope intents); valid/test → questions, plus `id_oos_valid` /
  `id_oos_test`: questions of 27 held-out banking intents that no FAQ answers;
- `hwu64`: train → FAQs (64), valid/test → questions; also used as out-of-domain traffic for a bank;
- `bitext`: the 4,514-row release; each text goes to FAQs, valid or test by a hash of its text (2:1:1).
The sample shop (`bot/sample/faqs.yaml` with `eval.yaml`) has no split: its eval file was written to be
held out, and it also set the old thresholds.

`without_alternatives` makes the knowledge base a new user often writes: each FAQ its question only (Bitext's
answers are its long replies), with the dropped alternative questions asked as the split `alternatives`.
"""

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.errors import KnowledgeError
from retrieval.faqs import FaqDraft, make_draft

DATASETS = ("banking77", "banking77-oos", "hwu64", "bitext")
_FOLDERS = {"banking77": "banking77", "banking77-oos": "banking77_oos", "hwu64": "hwu64",
            "bitext": "bitext_customer_support_4514"}
_BITEXT_FILE = "Bitext_Sample_Customer_Support_Training_Dataset.csv"
MAX_ALTERNATIVES = 199  # the admin API's limit on alternative questions per FAQ
# The answer of a dataset that has none: the same for every FAQ, so that searching answers (retrieval/hybrid.py)
# can neither help nor hurt there (an intent's name as its answer would leak the label into the ranking).
NO_ANSWER = "This dataset has no answers."


class DatasetMissing(KnowledgeError):
    pass


@dataclass
class Benchmark:
    name: str
    drafts: list[FaqDraft]  # one FAQ per intent
    questions: dict[str, list[tuple[str, str]]]  # split -> (text, intent); intent "" = nothing answers it
    uncovered: dict[str, list[str]] = field(default_factory=dict)  # split -> in-domain questions no FAQ answers
    asked_in: str | None = None  # the questions' language where it is not the knowledge base's (cross-lingual)

    def intent_of_question(self) -> dict[str, str]:
        return {draft.question: draft.tags[-1] for draft in self.drafts}


def _rows(path: Path, text: str, label: str) -> list[tuple[str, str]]:
    if not path.is_file():
        raise DatasetMissing(f"{path} does not exist: point --data-dir at the folder that holds {path.parent.name}/")
    with path.open(encoding="utf-8") as handle:
        return [(row[text].strip(), row[label].strip()) for row in csv.DictReader(handle) if row[text].strip()]


def _drafts(name: str, rows: list[tuple[str, str]], limit: int | None,
            answers: dict[str, str] | None = None) -> list[FaqDraft]:
    """One FAQ per intent; `answers`: the answer of each intent's first text (else `NO_ANSWER`)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for text, intent in rows:
        if text not in grouped[intent]:
            grouped[intent].append(text)
    drafts = []
    for intent in sorted(grouped)[:limit]:
        texts = grouped[intent][: MAX_ALTERNATIVES + 1]
        drafts.append(make_draft(texts[0], (answers or {}).get(texts[0]) or NO_ANSWER, texts[1:], [name, intent]))
    return drafts


def without_alternatives(benchmark: Benchmark) -> Benchmark:
    """The same FAQs with their question only; their alternative questions become the `alternatives` split."""
    drafts = [make_draft(draft.question, draft.answer, [], draft.tags) for draft in benchmark.drafts]
    dropped = [(text, draft.tags[-1]) for draft in benchmark.drafts for text in draft.alt_questions]
    return Benchmark(f"{benchmark.name} (plain)", drafts, {**benchmark.questions, "alternatives": dropped},
                     dict(benchmark.uncovered))


def load_benchmark(name: str, data_dir: Path, intents: int | None = None, per_intent: int | None = None) -> Benchmark:
    """`intents` keeps the first N intents (sorted), `per_intent` at most N questions each: quick runs."""
    if name not in DATASETS:
        raise DatasetMissing(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    folder = data_dir / _FOLDERS[name]
    uncovered: dict[str, list[str]] = {}
    answers = None
    if name == "banking77":
        kb, splits = (_rows(folder / "train.csv", "text", "category"),
                      {"test": _rows(folder / "test.csv", "text", "category")})
    elif name == "bitext":
        rows = _rows(folder / _BITEXT_FILE, "instruction", "intent")
        answers = dict(reversed(_rows(folder / _BITEXT_FILE, "instruction", "response")))  # a text's first reply
        part = {text: int(hashlib.sha1(text.encode()).hexdigest(), 16) % 4 for text, _ in rows}
        kb = [row for row in rows if part[row[0]] < 2]
        splits = {"valid": [r for r in rows if part[r[0]] == 2], "test": [r for r in rows if part[r[0]] == 3]}
    else:
        kb = _rows(folder / "train.csv", "text", "intent")
        splits = {split: _rows(folder / f"{split}.csv", "text", "intent") for split in ("valid", "test")}
        if name == "banking77-oos":
            uncovered = {split: [text for text, _ in _rows(folder / f"id_oos_{split}.csv", "text", "held_out_intent")]
                         for split in ("valid", "test")}
    drafts = _drafts(name, kb, intents, answers)
    kept = {draft.tags[-1] for draft in drafts}
    questions = {}
    for split, rows in splits.items():
        counts: dict[str, int] = defaultdict(int)
        chosen = []
        for text, intent in rows:
            if intent in kept and (per_intent is None or counts[intent] < per_intent):
                counts[intent] += 1
                chosen.append((text, intent))
        questions[split] = chosen
    if per_intent is not None:
        uncovered = {split: texts[: per_intent * 10] for split, texts in uncovered.items()}
    return Benchmark(name, drafts, questions, uncovered)


def out_of_domain(data_dir: Path, split: str, limit: int | None = None) -> list[str]:
    """HWU64 questions (a home assistant's: alarms, music, weather, ...) as traffic a bank's bot must not answer."""
    rows = _rows(data_dir / _FOLDERS["hwu64"] / f"{split}.csv", "text", "intent")
    return [text for text, _ in rows][:limit]
