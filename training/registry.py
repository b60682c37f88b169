"""The model registry: one folder per trained adapter or embedder, each with a card saying where it came from.

    registry/
      lm/<id>/            adapter_config.json, adapter_model.safetensors, card.json, test.jsonl, ...
      embeddings/<id>/    a sentence-transformers folder and card.json
      promoted.json       {"lm": "<id>", "embeddings": "<id>"}: what `helpdesk serve` loads
      .staging/           runs in progress; a finished run is renamed into place in one step, so an
                          interrupted run never leaves a half-written entry

A card carries the base model, the arguments, the data fingerprint, training figures and evaluation
scores. Scores are `{"models": {name: {metric: value}}, "test_fingerprint": ...}`, where a name is "base",
a registry id, or both; `promote` compares the candidate with the promoted model (or the base model when
none is) on the kind's gate metrics, as measured in the same evaluation.
"""

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from training.errors import PromotionRefused, RegistryError

KINDS = ("lm", "embeddings")
# Higher is better for every gate metric. A candidate is "worse" when it loses more than GATE_TOLERANCE
# on any of them: a margin for float noise only, small test sets are noisy and `--force` exists for that.
GATE_METRICS = {"lm": ("rouge_l", "groundedness", "refusal_accuracy"), "embeddings": ("top1",)}
GATE_TOLERANCE = 0.005
BASE = "base"
CARD = "card.json"


@dataclass
class ModelCard:
    id: str
    kind: str
    base_model: str
    created_at: str
    arguments: dict
    data: dict
    training: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)

    def candidate_scores(self) -> dict | None:
        return self.scores.get("models", {}).get(self.id)


@dataclass(frozen=True)
class Promotion:
    id: str
    kind: str
    compared_with: str | None  # "base", the previous id, or None when forced without scores
    worse: list[str]  # gate metrics on which the candidate lost (non-empty only when forced)


def new_id(kind: str, fingerprint: str) -> str:
    return f"{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{fingerprint[:6]}"


class Registry:
    def __init__(self, root: Path):
        self.root = root

    # -- reading -------------------------------------------------------------------------------------------

    def entries(self, kind: str | None = None) -> list[ModelCard]:
        cards = []
        for each in [kind] if kind else KINDS:
            folder = self.root / each
            if folder.is_dir():
                cards += [self._read_card(path) for path in sorted(folder.iterdir()) if (path / CARD).is_file()]
        return sorted(cards, key=lambda card: card.created_at)

    def get(self, entry_id: str) -> ModelCard:
        for kind in KINDS:
            if (self.root / kind / entry_id / CARD).is_file():
                return self._read_card(self.root / kind / entry_id)
        raise RegistryError(f"No model {entry_id!r} in the registry {self.root}; list them with "
                            "`helpdesk model list`.")

    def path(self, entry_id: str) -> Path:
        card = self.get(entry_id)
        return self.root / card.kind / card.id

    def promoted_id(self, kind: str) -> str | None:
        return self._promoted().get(kind)

    def promoted(self, kind: str) -> ModelCard | None:
        entry_id = self.promoted_id(kind)
        return self.get(entry_id) if entry_id else None

    def _promoted(self) -> dict:
        try:
            return json.loads((self.root / "promoted.json").read_text())
        except FileNotFoundError:
            return {}

    @staticmethod
    def _read_card(folder: Path) -> ModelCard:
        try:
            return ModelCard(**json.loads((folder / CARD).read_text()))
        except (ValueError, TypeError) as error:
            raise RegistryError(f"{folder / CARD} is unreadable ({error}); remove that folder.") from error

    # -- writing -------------------------------------------------------------------------------------------

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A scratch folder for a new entry; removed if the block fails. Call `commit` inside the block."""
        folder = self.root / ".staging" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def commit(self, staged: Path, card: ModelCard) -> Path:
        """Write the card and move the staged folder into place in one rename."""
        if card.kind not in KINDS:
            raise RegistryError(f"Unknown model kind {card.kind!r}.")
        _write_json(staged / CARD, asdict(card))
        target = self.root / card.kind / card.id
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, target)
        return target

    def save_scores(self, entry_id: str, scores: dict) -> ModelCard:
        card = self.get(entry_id)
        card.scores = scores
        _write_json(self.root / card.kind / card.id / CARD, asdict(card))
        return card

    def promote(self, entry_id: str, force: bool = False) -> Promotion:
        """Make `entry_id` what the server loads, unless it is worse than the current one on the gate."""
        card = self.get(entry_id)
        current = self.promoted_id(card.kind)
        reference = current or BASE
        candidate = card.candidate_scores()
        worse, compared_with = [], None
        if candidate is None:
            if not force:
                raise PromotionRefused(f"{entry_id} has no evaluation scores: run `{_eval_command(card)}` first, "
                                       "or pass --force.")
        elif (baseline := card.scores.get("models", {}).get(reference)) is None:
            if not force:
                raise PromotionRefused(
                    f"The evaluation of {entry_id} did not include the promoted model {reference}, so they "
                    f"cannot be compared: run `{_eval_command(card)}` again, or pass --force.")
        else:
            compared_with = reference
            worse = [m for m in GATE_METRICS[card.kind] if candidate[m] < baseline[m] - GATE_TOLERANCE]
            if worse and not force:
                detail = ", ".join(f"{m} {candidate[m]:.3f} < {baseline[m]:.3f}" for m in worse)
                raise PromotionRefused(f"{entry_id} is worse than {reference} on {detail}. "
                                       "Keep the current model, or pass --force.")
        _write_json(self.root / "promoted.json", {**self._promoted(), card.kind: card.id})
        return Promotion(card.id, card.kind, compared_with, worse)


def _eval_command(card: ModelCard) -> str:
    return f"helpdesk eval generation {card.id}" if card.kind == "lm" else "helpdesk train embeddings"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    os.replace(tmp, path)
