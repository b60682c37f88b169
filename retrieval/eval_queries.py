"""An eval file: queries, each with the FAQ or document search should find for it."""

import csv
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import KnowledgeError


class UnreadableEvalFile(KnowledgeError):
    pass


@dataclass(frozen=True)
class EvalQuery:
    text: str
    expected: str  # "faq:12" or "document:3" (any chunk of the document counts)


def parse_expected(value: str) -> str:
    value = value.strip()
    if value.isdigit():
        return f"faq:{value}"
    kind, _, number = value.partition(":")
    if kind in ("faq", "document") and number.isdigit():
        return f"{kind}:{number}"
    raise ValueError(f"expected id {value!r} is neither an FAQ id (12 or faq:12) nor document:ID")


def read_eval_csv(path: Path) -> list[EvalQuery]:
    """A CSV with columns `query` and `expected_id`."""
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UnreadableEvalFile(f"{path}: cannot read it: {error}") from None
    if not rows or not {"query", "expected_id"} <= set(rows[0]):
        raise UnreadableEvalFile(f"{path.name}: needs a header with columns `query` and `expected_id`.")
    queries = []
    for number, row in enumerate(rows, start=1):
        try:
            queries.append(EvalQuery(row["query"].strip(), parse_expected(row["expected_id"] or "")))
        except ValueError as error:
            raise UnreadableEvalFile(f"{path.name} row {number}: {error}") from None
    return [query for query in queries if query.text]
