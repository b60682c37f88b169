"""Banking77 before/after: 1-NN intent accuracy of the stock MiniLM and of MiniLM fine-tuned on train
(proxy loss by default; `--loss mnrl` for the other one).

Train is the index and the fine-tuning data; test is only scored. `--validation` instead holds out 10% of
train (stratified, seed 0) and scores on it: use that, never test, to choose arguments.

    python bench/banking77_embedder.py [--data ../shared/data/banking77] [--loss proxy] [--epochs 5] [--validation]
"""

import argparse
import csv
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval.embedder import embedded_minilm_path  # noqa: E402
from training.train_embeddings import (  # noqa: E402
    LOSSES, EmbeddingTrainingArguments, encoder, nearest_neighbour_accuracy, train_embedder,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"


def read(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return [(row["text"].strip(), row["category"]) for row in csv.DictReader(file)]


def split_validation(rows: list[tuple[str, str]], share: float = 0.1, seed: int = 0):
    by_label = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng, kept, held = random.Random(seed), [], []
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        cut = max(1, round(len(items) * share))
        held += items[:cut]
        kept += items[cut:]
    return kept, held


def scores(embed, index_rows, query_rows, fresh_rows) -> tuple[float, float]:
    """1-NN top-1 over all queries and over the queries that are not also train texts (one encoding pass)."""
    texts = list(dict.fromkeys([t for t, _ in index_rows] + [t for t, _ in query_rows]))
    vectors = dict(zip(texts, embed(texts)))
    cached = lambda batch: np.stack([vectors[t] for t in batch])  # noqa: E731

    def top1(rows):
        return nearest_neighbour_accuracy(cached, [t for t, _ in index_rows], [label for _, label in index_rows],
                                          [t for t, _ in rows], [label for _, label in rows])
    return top1(query_rows), top1(fresh_rows)


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    defaults = EmbeddingTrainingArguments()
    parser.add_argument("--loss", choices=LOSSES, default=defaults.loss)
    parser.add_argument("--epochs", type=float, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--texts-per-group", type=int, default=defaults.texts_per_group)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--margin", type=float, default=defaults.margin)
    parser.add_argument("--scale", type=float, default=defaults.scale)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--validation", action="store_true", help="score on 10%% of train, not on test")
    parser.add_argument("--save", type=Path, help="also save the fine-tuned model here")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads; 1 is several times faster than 2 on a CPU shared with other jobs")
    return parser.parse_args()


def main() -> None:
    options = parse_options()

    import torch
    from sentence_transformers import SentenceTransformer

    if options.threads:
        torch.set_num_threads(options.threads)

    train = read(options.data / "train.csv")
    if options.validation:
        train, queries = split_validation(train)
        split_name = "validation (10% of train)"
    else:
        queries = read(options.data / "test.csv")
        split_name = "test"
    train_texts = {t for t, _ in train}
    fresh = [row for row in queries if row[0] not in train_texts]  # Banking77 test repeats 6 train texts

    stock_path = str(embedded_minilm_path())
    stock = encoder(SentenceTransformer(stock_path, device="cpu"))
    started = time.perf_counter()
    before = scores(stock, train, queries, fresh)
    encode_seconds = time.perf_counter() - started

    groups = defaultdict(list)
    for text, label in train:
        groups[label].append(text)
    args = EmbeddingTrainingArguments(loss=options.loss, epochs=options.epochs, batch_size=options.batch_size,
                                      texts_per_group=options.texts_per_group, learning_rate=options.learning_rate,
                                      margin=options.margin, scale=options.scale, seed=options.seed)
    curve = []

    def after_epoch(model, epoch: int) -> None:  # a learning curve, reported as such; nothing is chosen from it
        curve.append((epoch, scores(encoder(model), train, queries, fresh)))
        print(f"\nafter epoch {epoch}: top-1 {curve[-1][1][0]:.4f}", flush=True)

    model, stats = train_embedder(stock_path, groups, args, after_epoch=after_epoch)
    tuned = encoder(model)
    after = scores(tuned, train, queries, fresh)
    if options.save:
        model.save(str(options.save))

    print(f"\nBanking77, 1-NN over train ({len(train)} texts) -> {split_name}; torch threads "
          f"{torch.get_num_threads()}, device {stats.device}")
    print(f"arguments: {args}")
    print(f"| model | top-1 ({len(queries)} queries) | top-1 without the {len(queries) - len(fresh)} texts "
          f"also in train |")
    print("| --- | --- | --- |")
    print(f"| all-MiniLM-L6-v2 (stock) | {before[0]:.4f} | {before[1]:.4f} |")
    for epoch, (all_queries, fresh_only) in curve:
        print(f"| fine-tuned, {args.loss}, after epoch {epoch} | {all_queries:.4f} | {fresh_only:.4f} |")
    print(f"| fine-tuned, {args.loss}, end ({options.epochs:g} epochs) | {after[0]:.4f} | {after[1]:.4f} |")
    print(f"encoding train + queries once with the stock model: {encode_seconds:.0f} s")
    print(f"training: {stats.steps} steps, {stats.texts} texts, {stats.seconds:.0f} s "
          f"({stats.seconds / 60:.1f} min), final loss {stats.final_loss}")


if __name__ == "__main__":
    main()
