"""FAQ import and export files: CSV, JSON or YAML, chosen by the file extension."""

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.errors import InvalidFaq, KnowledgeError
from retrieval.faqs import Faq, FaqDraft, make_draft

FORMATS = (".csv", ".json", ".yaml", ".yml")
# In CSV cells, lists are written one item per line, and read split on newlines or " | ".
_LIST_SEPARATORS = ("\n", " | ")


class UnreadableFaqFile(KnowledgeError):
    pass


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based, counting data rows (the CSV header is not a row)
    message: str


@dataclass
class ParsedFaqFile:
    drafts: list[FaqDraft] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def read_faq_file(path: Path) -> ParsedFaqFile:
    rows = _load_rows(path)
    parsed = ParsedFaqFile()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            parsed.errors.append(RowError(number, "expected an object with `question` and `answer`"))
            continue
        try:
            parsed.drafts.append(make_draft(
                _text(row.get("question")), _text(row.get("answer")),
                _list(row.get("alt_questions")), _list(row.get("tags")),
            ))
        except InvalidFaq as error:
            parsed.errors.append(RowError(number, str(error)))
    return parsed


def _load_rows(path: Path) -> list:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UnreadableFaqFile(f"{path.name}: unsupported file type; use one of {', '.join(FORMATS)}.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UnreadableFaqFile(f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise UnreadableFaqFile(f"{path.name}: not UTF-8 text; save it as UTF-8.") from None
    try:
        if suffix == ".csv":
            reader = csv.DictReader(text.splitlines(keepends=True))
            missing = {"question", "answer"} - set(reader.fieldnames or [])
            if missing:
                raise UnreadableFaqFile(f"{path.name}: missing column(s) {', '.join(sorted(missing))}.")
            return list(reader)
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, csv.Error) as error:
        raise UnreadableFaqFile(f"{path.name}: cannot parse: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("faqs"), list):
        data = data["faqs"]
    if not isinstance(data, list):
        raise UnreadableFaqFile(f"{path.name}: expected a list of FAQs (or an object with a `faqs` list).")
    return data


def _text(value) -> str:
    return "" if value is None else str(value)


def _list(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    items = [str(value)]
    for separator in _LIST_SEPARATORS:
        items = [part for item in items for part in item.split(separator)]
    return [item.strip() for item in items if item.strip()]


def write_faq_file(path: Path, faqs: list[Faq]) -> None:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UnreadableFaqFile(f"{path.name}: unsupported file type; use one of {', '.join(FORMATS)}.")
    rows = [{"id": faq.id, "question": faq.question, "answer": faq.answer,
             "alt_questions": faq.alt_questions, "tags": faq.tags} for faq in faqs]
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "question", "answer", "alt_questions", "tags"])
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "alt_questions": "\n".join(row["alt_questions"]),
                                 "tags": "\n".join(row["tags"])})
    elif suffix == ".json":
        path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
