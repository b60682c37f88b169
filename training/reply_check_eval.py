"""How well the reply check tells good answers from wrong ones, on the pairs of training/eval_sets/reply_checks.yaml.

Every pair holds a question, the snippets an LM was given, a good answer and a wrong one with its failure class.
Each answer goes through `check_reply` exactly as a generated reply does (snippets as "title\\ntext", in
retrieval order); the report gives, per failure class and in all, the share of good answers that pass and the
share of wrong ones that are stopped, and lists every pair the check got wrong with its reasons.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.faq_files import read_faq_file

DEV_SET = Path(__file__).parent / "eval_sets" / "reply_checks.yaml"
ROOT = Path(__file__).parent.parent
# (reply, snippets, question) -> the reasons it may not be sent (empty: it passes)
Check = Callable[[str, list[str], str], list[str]]


@dataclass(frozen=True)
class Pair:
    question: str
    snippets: list[str]
    good: str
    wrong: str
    failure: str


@dataclass
class ClassScore:
    pairs: int = 0
    good_passed: int = 0
    wrong_stopped: int = 0

    @property
    def pass_rate(self) -> float:
        return self.good_passed / self.pairs if self.pairs else 0.0

    @property
    def stop_rate(self) -> float:
        return self.wrong_stopped / self.pairs if self.pairs else 0.0


@dataclass
class CheckReport:
    classes: dict[str, ClassScore] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)  # what the check got wrong, one line each

    @property
    def total(self) -> ClassScore:
        total = ClassScore()
        for score in self.classes.values():
            total.pairs += score.pairs
            total.good_passed += score.good_passed
            total.wrong_stopped += score.wrong_stopped
        return total

    def table(self) -> str:
        lines = ["| failure class | pairs | good answers passed | wrong answers stopped |",
                 "| --- | ---: | ---: | ---: |"]
        for name, score in [*sorted(self.classes.items()), ("all", self.total)]:
            lines.append(f"| {name} | {score.pairs} | {score.good_passed}/{score.pairs} ({score.pass_rate:.0%}) | "
                         f"{score.wrong_stopped}/{score.pairs} ({score.stop_rate:.0%}) |")
        return "\n".join(lines)


def load_pairs(path: Path = DEV_SET, section: str = "pairs") -> list[Pair]:
    """The pairs of `section`: "pairs" (the check was developed on them) or "held_out" (written after it)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    snippets_of = {"inline": dict(data.get("inline") or {})}
    for name, faq_file in (data.get("knowledge_bases") or {}).items():
        drafts = read_faq_file(ROOT / faq_file).drafts
        snippets_of[name] = {draft.question: f"{draft.question}\n{draft.answer}" for draft in drafts}
    pairs = []
    for number, row in enumerate(data[section], start=1):
        known = snippets_of[row["kb"]]
        missing = [name for name in row["snippets"] if name not in known]
        if missing:
            raise ValueError(f"{path}: pair {number} names snippets {missing} that {row['kb']} does not have")
        pairs.append(Pair(row["question"], [known[name] for name in row["snippets"]], row["good"], row["wrong"],
                          row["class"]))
    return pairs


def evaluate(check: Check, pairs: list[Pair]) -> CheckReport:
    report = CheckReport()
    for pair in pairs:
        score = report.classes.setdefault(pair.failure, ClassScore())
        score.pairs += 1
        good_reasons = check(pair.good, pair.snippets, pair.question)
        score.good_passed += not good_reasons
        if good_reasons:
            report.misses.append(f"good stopped [{pair.failure}] {pair.good!r}: {'; '.join(good_reasons)}")
        stopped = bool(check(pair.wrong, pair.snippets, pair.question))
        score.wrong_stopped += stopped
        if not stopped:
            report.misses.append(f"wrong passed [{pair.failure}] {pair.wrong!r}")
    return report


def current_check(reply: str, snippets: list[str], question: str) -> list[str]:
    """The check as chat applies it: to the reply as it would be sent (`tidied`), nothing left is nothing to send."""
    from dialogue.grounding import check_reply, tidied

    sent = tidied(reply, snippets, question)
    return check_reply(sent, snippets, question).reasons if sent.strip() else ["says nothing once tidied"]
