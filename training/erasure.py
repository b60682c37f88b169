"""Erasing a customer from the training data the product keeps: the test and validation files in the registry.

Examples mined from conversations (`source == "conversation"`) carry the customer's message as `question`;
those whose question is one of the erased customer's messages are removed. The files are staged next to
the originals and swapped in only once the database erasure committed (`StagedFile.apply`), so a failed
erasure leaves every file as it was.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from training.registry import KINDS

DATASET_FILES = ("test.jsonl", "validation.jsonl", "train.jsonl")


@dataclass(frozen=True)
class StagedFile:
    path: Path
    staged: Path
    removed: int

    def apply(self) -> None:
        os.replace(self.staged, self.path)

    def discard(self) -> None:
        self.staged.unlink(missing_ok=True)


def dataset_files(registry_root: Path) -> list[Path]:
    return sorted(path for kind in KINDS for name in DATASET_FILES
                  for path in (registry_root / kind).glob(f"*/{name}"))


def stage_removals(registry_root: Path, questions: set[str]) -> list[StagedFile]:
    """Copies of the dataset files without the conversation examples that ask one of `questions`."""
    staged: list[StagedFile] = []
    for path in dataset_files(registry_root):
        kept, removed = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            example = json.loads(line)
            if example.get("source") == "conversation" and example.get("question") in questions:
                removed += 1
            else:
                kept.append(line)
        if removed:
            target = path.with_name(path.name + ".erasing")
            target.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            staged.append(StagedFile(path, target, removed))
    return staged
