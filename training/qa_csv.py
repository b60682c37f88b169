"""Question/answer pairs from a CSV file (`helpdesk train lm --csv`), checked whole before any training."""

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from training.errors import DatasetError
from training.qa_pairs import QAPair, Snippet, pair_key

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


@dataclass(frozen=True)
class CsvSource:
    path: Path
    question_column: str = "question"
    answer_column: str = "answer"
    group_column: str | None = None
    placeholders: dict[str, str] = field(default_factory=dict)


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
        key = pair_key(question, answer)
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
