"""HWU64 in other languages: our translations of a fixed subset of the public HWU64 texts, measured like the
public datasets (`retrieval.benchmarks`), in the knowledge base's own language and across languages.

The subset: per intent, the first 8 distinct training texts (the FAQ's question and 7 alternatives) and the
first 3 distinct texts of the valid and of the test split (the questions), 895 texts in all.
`training/eval_sets/hwu64_languages/<code>.tsv` holds each text's translation keyed by its place in the
shared file (`train:123` is the 124th data row of hwu64/train.csv); the English texts and the intents are
read from `--data-dir`, never copied (see that folder's README).

For a language: `hwu64-<code>` is the knowledge base and the questions in that language; `hwu64-en<-<code>`
the English subset's knowledge base asked the translated questions (cross-lingual); `hwu64-en` (subset) the
same subset all in English, the baseline both compare with.
"""

import csv
from collections import defaultdict
from pathlib import Path

from retrieval.benchmarks import NO_ANSWER, Benchmark, DatasetMissing
from retrieval.faqs import make_draft

TRANSLATIONS = Path(__file__).parent / "eval_sets" / "hwu64_languages"
FAQ_TEXTS, QUESTIONS = 8, 3  # per intent


def translated_languages() -> list[str]:
    return sorted(path.stem for path in TRANSLATIONS.glob("*.tsv"))


def _shared_rows(data_dir: Path, split: str) -> list[tuple[str, str]]:
    path = data_dir / "hwu64" / f"{split}.csv"
    if not path.is_file():
        raise DatasetMissing(f"{path} does not exist: point --data-dir at the folder that holds hwu64/")
    with path.open(encoding="utf-8") as handle:
        return [(row["text"].strip(), row["intent"].strip()) for row in csv.DictReader(handle)]


def subset(data_dir: Path) -> dict[str, list[tuple[str, str, str]]]:
    """split -> [(key, English text, intent)] of the texts the translations cover, in their order."""
    chosen: dict[str, list[tuple[str, str, str]]] = {}
    for split, count in (("train", FAQ_TEXTS), ("valid", QUESTIONS), ("test", QUESTIONS)):
        seen: dict[str, list[str]] = defaultdict(list)
        chosen[split] = []
        for number, (text, intent) in enumerate(_shared_rows(data_dir, split)):
            if text and len(seen[intent]) < count and text.lower() not in seen[intent]:
                seen[intent].append(text.lower())
                chosen[split].append((f"{split}:{number}", text, intent))
    return chosen


def read_translations(code: str) -> dict[str, str]:
    path = TRANSLATIONS / f"{code}.tsv"
    if not path.is_file():
        known = ", ".join(translated_languages()) or "none"
        raise DatasetMissing(f"no HWU64 translation for {code!r} ({path}); translated: {known}")
    translations = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        key, separator, text = line.partition("\t")
        if not separator or not text.strip():
            raise DatasetMissing(f"{path}:{number}: expected `split:row<TAB>translation`")
        translations[key] = text.strip()
    return translations


def _benchmark(name: str, rows: dict[str, list[tuple[str, str, str]]], faq_text, question_text,
               asked_in: str | None = None) -> Benchmark:
    grouped: dict[str, list[str]] = defaultdict(list)
    for key, text, intent in rows["train"]:
        if (written := faq_text(key, text)) not in grouped[intent]:
            grouped[intent].append(written)
    drafts = [make_draft(texts[0], NO_ANSWER, texts[1:], ["hwu64", intent])
              for intent, texts in sorted(grouped.items())]
    questions = {split: [(question_text(key, text), intent) for key, text, intent in rows[split]]
                 for split in ("valid", "test")}
    return Benchmark(name, drafts, questions, asked_in=asked_in)


def translated_benchmarks(data_dir: Path, code: str) -> list[Benchmark]:
    """[own language, English knowledge base asked in `code`]; a text without a translation is an error, so
    that a half-translated file is not measured as if whole."""
    rows = subset(data_dir)
    translations = read_translations(code)
    missing = [key for split in rows.values() for key, _, _ in split if key not in translations]
    if missing:
        raise DatasetMissing(f"{TRANSLATIONS / (code + '.tsv')} lacks {len(missing)} texts of the subset "
                             f"(first: {missing[0]})")

    def translated(key: str, _text: str) -> str:
        return translations[key]

    def english(_key: str, text: str) -> str:
        return text

    across = _benchmark(f"hwu64-en<-{code}", rows, english, translated, asked_in=code)
    for split in ("valid", "test"):  # what English customers get once the FAQs are translated (`--enrich`)
        across.questions[f"{split} (en)"] = [(text, intent) for _, text, intent in rows[split]]
    return [_benchmark(f"hwu64-{code}", rows, translated, translated), across]


def english_subset(data_dir: Path) -> Benchmark:
    return _benchmark("hwu64-en (subset)", subset(data_dir), lambda _k, text: text, lambda _k, text: text)
