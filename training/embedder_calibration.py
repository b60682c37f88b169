"""Decision thresholds for an embedder fine-tuned on the knowledge base's own questions.

The knowledge base calibrates its thresholds by holding its own questions out (retrieval/self_calibration.py).
With a fine-tuned embedder that test means nothing: the model was trained on every question it would hold
out, so they all land next to their FAQ; the calibration chose a faq threshold of 0.81 on the sample shop
where the stock model's is 1.35, and verbatim precision on its eval file fell to 0.81.

So `helpdesk train embeddings` also trains throwaway copies (*held-out models*), each on the same data minus
one fold: a fifth of the FAQs whole, and a fifth of every other FAQ's alternative questions. Each copy is
scored on what it did not see: the held-out alternative questions are the answerable traffic, the held-out
FAQs' questions the in-domain traffic no FAQ covers, and `off_topic.txt` the rest, the three samples of the
self-calibration, pooled over the copies. One copy is enough where its fold holds `ENOUGH_QUERIES`
answerable questions (Banking77-OOS: ~1,000); a small knowledge base gets up to `FOLDS` (the sample shop:
5 × 32), because a 98% precision cannot be read off 30 questions. The served model is trained on all the
questions but the one per FAQ that scores it, so it is at least as good as the copies, and their thresholds
err on the safe side. The result is
saved in the model's folder (`CALIBRATION_FILE`) and the knowledge base uses it whenever that model serves.
"""

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.self_calibration import off_topic_questions
from retrieval.tuned_calibration import HeldOutFold, ModelCalibration, calibrate_held_out
from training.train_embeddings import EmbeddingTrainingArguments, encoder, train_embedder

FOLDS = 5  # each fold holds out 1/FOLDS of the FAQs whole and 1/FOLDS of the others' alternative questions
ENOUGH_QUERIES = 150  # held-out answerable questions wanted; folds are added until there are (up to FOLDS)


@dataclass(frozen=True)
class Split:
    training: dict[str, list[str]]
    queries: list[tuple[str, str]]  # (text, group): alternative questions of training groups, not trained on
    uncovered: list[str]  # the texts of the groups held out whole


def held_out_split(groups: Mapping[str, Sequence[str]], seed: int, fold: int = 0) -> Split:
    """Fold `fold` of `FOLDS`. A group's first text (the FAQ's own question) always stays in training; across
    the folds every group is held out whole once and every alternative question once."""
    rng = random.Random(seed)
    labels = sorted(groups)
    order = labels[:]
    rng.shuffle(order)
    whole = {label for i, label in enumerate(order) if i % FOLDS == fold}
    training, queries, uncovered = {}, [], []
    for label in labels:
        texts = list(groups[label])
        alternatives = texts[1:]
        random.Random(f"{seed}:{label}").shuffle(alternatives)
        if label in whole:
            uncovered += texts
            continue
        held = [text for i, text in enumerate(alternatives) if i % FOLDS == fold]
        queries += [(text, label) for text in held]
        training[label] = [texts[0], *(text for i, text in enumerate(alternatives) if i % FOLDS != fold)]
    return Split(training, queries, uncovered)


def folds_needed(groups: Mapping[str, Sequence[str]], seed: int) -> int:
    queries = len(held_out_split(groups, seed).queries)
    return min(FOLDS, max(1, math.ceil(ENOUGH_QUERIES / max(queries, 1))))


def calibrate_tuned(base_path: str, groups: Mapping[str, Sequence[str]], args: EmbeddingTrainingArguments,
                    show_progress: bool = True) -> ModelCalibration:
    """Train the held-out models and calibrate with them (see the module docstring)."""
    if len(groups) < FOLDS:
        return ModelCalibration(None, f"{len(groups)} FAQs: too few to hold any out; cosine + lead with the "
                                      "default thresholds")
    ids = {label: i for i, label in enumerate(sorted(groups))}
    off_topic = off_topic_questions()
    folds, count = [], folds_needed(groups, args.seed)
    for fold in range(count):
        split = held_out_split(groups, args.seed, fold)
        if not split.queries:
            continue
        model, _ = train_embedder(base_path, split.training, args, show_progress=show_progress,
                                  label=f"Held-out copy {fold + 1}/{count} (for the thresholds)")
        embed = encoder(model)
        texts = [(text, label) for label, group in split.training.items() for text in group]
        folds.append(HeldOutFold(
            embed([t for t, _ in texts]), np.array([ids[label] for _, label in texts]),
            embed([t for t, _ in split.queries]), np.array([ids[label] for _, label in split.queries]),
            embed(split.uncovered), embed(off_topic)))
    calibrated = calibrate_held_out(folds, len(groups), sum(map(len, groups.values()))) if folds else None
    if calibrated is None:
        held = sum(len(f.query_labels) for f in folds)
        return ModelCalibration(None, f"only {held} alternative questions to hold out; cosine alone with the "
                                      "default thresholds")
    return ModelCalibration(calibrated)
