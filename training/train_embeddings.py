"""Contrastive fine-tuning of the sentence-transformers embedder on groups of texts that mean the same thing.

A group is an FAQ (its question and alternative questions) or an intent (Banking77). Training pairs two
texts of one group; every other pair in the batch is a negative (multiple negatives ranking loss), so each
batch holds at most one pair per group: two pairs of the same group would push paraphrases apart.

Reads top to bottom: arguments, pairs and batches, evaluation, the loop, saving.
"""

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from training.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingTrainingArguments:
    epochs: float = 1.0
    batch_size: int = 64
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    # Cosine similarities are multiplied by this before the softmax (the loss's temperature).
    scale: float = 20.0
    seed: int = 42
    max_steps: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: in-batch negatives need company.")
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("epochs must be positive (or set max_steps).")


@dataclass(frozen=True)
class EmbeddingTrainingStats:
    steps: int
    pairs: int
    seconds: float
    final_loss: float
    device: str


# -- pairs and batches -------------------------------------------------------------------------------------

def check_groups(groups: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Groups with at least two distinct texts; a clear error when there is nothing to learn from."""
    usable = {}
    for label, texts in groups.items():
        distinct = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
        if len(distinct) >= 2:
            usable[label] = distinct
    if len(usable) < 2:
        raise DatasetError(
            f"Embedder training needs at least 2 groups (FAQs or intents) with 2 or more texts each; got "
            f"{len(usable)}. Add alternative questions to your FAQs."
        )
    return usable


def epoch_batches(groups: Mapping[str, list[str]], batch_size: int, rng: random.Random) -> list[list[tuple[str, str]]]:
    """One epoch: every text is an anchor once, paired with another text of its group.

    Batches draw from the groups with the most pairs left, one pair per group, so that no batch holds two
    pairs of one group and the large groups do not all end up in the last batches.
    """
    queues: dict[str, list[tuple[str, str]]] = {}
    for label, texts in groups.items():
        pairs = []
        for i, anchor in enumerate(texts):
            j = rng.randrange(len(texts) - 1)
            pairs.append((anchor, texts[j if j < i else j + 1]))
        rng.shuffle(pairs)
        queues[label] = pairs
    batches = []
    while queues:
        labels = list(queues)
        rng.shuffle(labels)  # random tie-break between equally full groups
        labels.sort(key=lambda label: len(queues[label]), reverse=True)
        chosen = labels[:batch_size]
        if len(chosen) < 2:
            break  # a lone pair has no negatives: nothing to learn
        batches.append([queues[label].pop() for label in chosen])
        for label in chosen:
            if not queues[label]:
                del queues[label]
    return batches


@dataclass(frozen=True)
class HeldOut:
    """Queries kept out of training, and the texts they are looked up among."""

    index: dict[str, list[str]]
    queries: list[tuple[str, str]]  # (text, group)

    def as_index(self) -> tuple[list[str], list[str]]:
        pairs = [(text, label) for label, texts in self.index.items() for text in texts]
        return [t for t, _ in pairs], [label for _, label in pairs]

    def as_queries(self) -> tuple[list[str], list[str]]:
        return [t for t, _ in self.queries], [label for _, label in self.queries]


def hold_out(groups: Mapping[str, list[str]], seed: int) -> tuple[dict[str, list[str]], HeldOut]:
    """One alternative question of every group with three or more texts becomes a test query; the rest is
    the training data and the index (as in serving, where the customer's wording is new)."""
    rng = random.Random(seed)
    kept, queries = {}, []
    for label in sorted(groups):
        texts = list(groups[label])
        if len(texts) >= 3:
            queries.append((texts.pop(rng.randrange(1, len(texts))), label))
        kept[label] = texts
    if not queries:
        raise DatasetError("No FAQ has two or more alternative questions, so nothing can be held out to "
                           "measure the embedder. Add alternative questions.")
    return kept, HeldOut(kept, queries)


def groups_fingerprint(groups: Mapping[str, Sequence[str]], args: EmbeddingTrainingArguments) -> str:
    payload = json.dumps([sorted((k, list(v)) for k, v in groups.items()), asdict(args)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


# -- evaluation --------------------------------------------------------------------------------------------

def nearest_neighbour_accuracy(embed, index_texts: Sequence[str], index_labels: Sequence[str],
                               queries: Sequence[str], query_labels: Sequence[str]) -> float:
    """Top-1 accuracy of labelling each query with the label of its most similar index text (1-NN)."""
    index = embed(list(index_texts))
    found = embed(list(queries))
    best = np.argmax(found @ index.T, axis=1)
    labels = np.asarray(index_labels)
    return float(np.mean(labels[best] == np.asarray(query_labels)))


# -- training ----------------------------------------------------------------------------------------------

def pick_device(setting: str) -> str:
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def train_embedder(model_path: str, groups: Mapping[str, Sequence[str]], args: EmbeddingTrainingArguments,
                   show_progress: bool = True, after_epoch: Callable[[object, int], None] | None = None):
    """Fine-tune the sentence-transformers model at `model_path`; returns (model, stats). Nothing is saved.

    `after_epoch(model, epoch)` runs after each whole epoch (benchmarks use it for a learning curve).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import get_linear_schedule_with_warmup

    groups = check_groups(groups)
    device = pick_device(args.device)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    model = SentenceTransformer(model_path, device=device)
    # Both texts are customer questions, so the loss runs both ways (question → paraphrase and back).
    loss_fn = MultipleNegativesRankingLoss(model, scale=args.scale, directions=("query_to_doc", "doc_to_query"))
    pairs_per_epoch = sum(len(texts) for texts in groups.values())
    steps_per_epoch = len(epoch_batches(groups, args.batch_size, random.Random(args.seed)))
    total_steps = args.max_steps or max(1, math.ceil(steps_per_epoch * args.epochs))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(total_steps * args.warmup_ratio), total_steps)
    # bf16 autocast only where the hardware does it natively; on CPU it is slower and less exact.
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else _no_autocast()

    model.train()
    started, step, pairs_seen, loss_value = time.perf_counter(), 0, 0, float("nan")
    with tqdm(total=total_steps, desc="Training embedder", unit="step", disable=not show_progress) as bar:
        for batch in _batches_forever(groups, args.batch_size, rng):
            features = [_on(model.preprocess(texts), device) for texts in zip(*batch)]
            with autocast:
                loss = loss_fn(features, None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step, pairs_seen, loss_value = step + 1, pairs_seen + len(batch), loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", epoch=f"{pairs_seen / pairs_per_epoch:.2f}")
            if after_epoch and step % steps_per_epoch == 0 and step < total_steps:
                model.eval()
                after_epoch(model, step // steps_per_epoch)
                model.train()
            if step >= total_steps:
                break
    model.eval()
    stats = EmbeddingTrainingStats(steps=step, pairs=pairs_seen, seconds=round(time.perf_counter() - started, 1),
                                   final_loss=round(loss_value, 4), device=device)
    return model, stats


def _on(features: dict, device: str) -> dict:
    return {key: value.to(device) if hasattr(value, "to") else value for key, value in features.items()}


def _batches_forever(groups: Mapping[str, list[str]], batch_size: int, rng: random.Random) -> Iterator[list]:
    while True:
        yield from epoch_batches(groups, batch_size, rng)


class _no_autocast:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def encoder(model, batch_size: int = 128):
    """`texts -> unit vectors` for a loaded SentenceTransformer (what the evaluation helpers take)."""
    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)
    return embed


