"""Fine-tuning the sentence-transformers embedder on groups of texts that mean the same thing.

A group is an FAQ (its question and alternative questions) or an intent (Banking77). Two losses:

- `proxy` (the default): one learned unit vector, a proxy, per group, started at the group's centroid under
  the base model; each text is classified among all proxies by cosine with an additive margin on its own
  group (normalised softmax with a cosine margin, as in CosFace, Wang et al. 2018). Every step pushes a text
  away from *every* other group, not only from the few in its batch, and pulls a group's texts together.
  Batches hold up to `texts_per_group` texts of each of many groups; each text is seen once per epoch.
- `mnrl`: sentence-transformers' multiple negatives ranking loss on pairs of texts of one group, with the
  other pairs of the batch as negatives; each batch holds at most one pair per group, because two pairs of
  one group would push paraphrases apart.

On Banking77 the proxy loss is the one that moves 1-NN accuracy well past the stock model (docs/learning.md).

Reads top to bottom: arguments, data, evaluation, the loop. The batches are training/embedding_batches.py,
the proxy loss training/proxy_loss.py.
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

from core.devices import choose_device
from training.embedding_batches import epoch_batches, group_batches
from training.errors import DatasetError
from training.proxy_loss import ProxyMarginLoss, group_centroids

log = logging.getLogger(__name__)

LOSSES = ("proxy", "mnrl")


@dataclass(frozen=True)
class EmbeddingTrainingArguments:
    loss: str = "proxy"
    epochs: float = 5.0
    # Texts per batch (proxy) or pairs per batch (mnrl).
    batch_size: int = 128
    # proxy: at most this many texts of one group in a batch.
    texts_per_group: int = 4
    learning_rate: float = 2e-4
    # proxy: the proxies move much faster than the encoder's weights.
    proxy_learning_rate: float = 1e-2
    # proxy: subtracted from the cosine to a text's own proxy, so that it must win by this much.
    margin: float = 0.1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    # Cosine similarities are multiplied by this before the softmax (the loss's temperature).
    scale: float = 20.0
    seed: int = 42
    max_steps: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}.")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: in-batch negatives need company.")
        if self.texts_per_group < 1:
            raise ValueError("texts_per_group must be at least 1.")
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("epochs must be positive (or set max_steps).")


@dataclass(frozen=True)
class EmbeddingTrainingStats:
    steps: int
    texts: int
    seconds: float
    final_loss: float
    device: str


# -- data ----------------------------------------------------------------------------------------------

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

def train_embedder(model_path: str, groups: Mapping[str, Sequence[str]], args: EmbeddingTrainingArguments,
                   show_progress: bool = True, after_epoch: Callable[[object, int], None] | None = None,
                   label: str = "Training embedder"):
    """Fine-tune the sentence-transformers model at `model_path`; returns (model, stats). Nothing is saved.

    `after_epoch(model, epoch)` runs after each whole epoch (benchmarks use it for a learning curve).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import get_linear_schedule_with_warmup

    groups = check_groups(groups)
    device = choose_device(args.device)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    model = SentenceTransformer(model_path, device=device)
    parameters, epoch, batch_loss = _objective(model, groups, args, device, rng)
    texts_per_item = 2 if args.loss == "mnrl" else 1  # an mnrl batch item is a pair
    texts_per_epoch = sum(len(texts) for texts in groups.values()) * texts_per_item
    steps_per_epoch = len(epoch())
    total_steps = args.max_steps or max(1, math.ceil(steps_per_epoch * args.epochs))
    optimizer = torch.optim.AdamW(parameters, weight_decay=args.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(total_steps * args.warmup_ratio), total_steps)
    # bf16 autocast only where the hardware does it natively; on CPU it is slower and less exact.
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else _no_autocast()

    model.train()
    started, step, texts_seen, loss_value = time.perf_counter(), 0, 0, float("nan")
    with tqdm(total=total_steps, desc=label, unit="step", disable=not show_progress) as bar:
        for batch in _forever(epoch):
            with autocast:
                loss = batch_loss(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step, loss_value = step + 1, loss.item()
            texts_seen += len(batch) * texts_per_item
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", epoch=f"{texts_seen / texts_per_epoch:.2f}")
            if after_epoch and step % steps_per_epoch == 0 and step < total_steps:
                model.eval()
                after_epoch(model, step // steps_per_epoch)
                model.train()
            if step >= total_steps:
                break
    model.eval()
    stats = EmbeddingTrainingStats(steps=step, texts=texts_seen, seconds=round(time.perf_counter() - started, 1),
                                   final_loss=round(loss_value, 4), device=device)
    return model, stats


def _objective(model, groups: Mapping[str, Sequence[str]], args: EmbeddingTrainingArguments, device: str,
               rng: random.Random) -> tuple[list[dict], Callable[[], list], Callable]:
    """What `args.loss` trains: (optimizer parameter groups, one epoch's batches, the loss of a batch)."""
    parameters = [{"params": list(model.parameters()), "lr": args.learning_rate}]
    if args.loss == "proxy":
        label_ids, centroids = group_centroids(model, groups)
        proxy_loss = ProxyMarginLoss(centroids.to(device), label_ids, args.scale, args.margin)
        parameters.append({"params": [proxy_loss.proxies], "lr": args.proxy_learning_rate, "weight_decay": 0.0})

        def batch_loss(batch):
            texts, labels = zip(*batch)
            embeddings = model(_on(model.preprocess(list(texts)), device))["sentence_embedding"]
            return proxy_loss(embeddings, labels)

        return parameters, lambda: group_batches(groups, args.batch_size, args.texts_per_group, rng), batch_loss

    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    # Both texts are customer questions, so the loss runs both ways (question → paraphrase and back).
    mnrl = MultipleNegativesRankingLoss(model, scale=args.scale, directions=("query_to_doc", "doc_to_query"))

    def pair_loss(batch):
        return mnrl([_on(model.preprocess(list(texts)), device) for texts in zip(*batch)], None)

    return parameters, lambda: epoch_batches(groups, args.batch_size, rng), pair_loss


def _on(features: dict, device: str) -> dict:
    return {key: value.to(device) if hasattr(value, "to") else value for key, value in features.items()}


def _forever(epoch: Callable[[], list]) -> Iterator:
    while True:
        yield from epoch()


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


