"""Banking77 before/after: 1-NN intent accuracy of the stock MiniLM and of MiniLM fine-tuned on train.

Train is the index and the fine-tuning data; test is only scored. `--validation` instead holds out 10% of
train (stratified, seed 0) and scores on it: use that, never test, to choose arguments.

    python bench/banking77_embedder.py [--data ../shared/data/banking77] [--epochs 3] [--validation]
"""

import argparse
import csv
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval.embedder import embedded_minilm_path  # noqa: E402
from training.train_embeddings import (  # noqa: E402
    EmbeddingTrainingArguments, encoder, nearest_neighbour_accuracy, train_embedder,
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


def score(embed, index_rows, query_rows) -> float:
    return nearest_neighbour_accuracy(embed, [t for t, _ in index_rows], [l for _, l in index_rows],
                                      [t for t, _ in query_rows], [l for _, l in query_rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--validation", action="store_true", help="score on 10%% of train, not on test")
    parser.add_argument("--save", type=Path, help="also save the fine-tuned model here")
    options = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

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
    before = (score(stock, train, queries), score(stock, train, fresh))

    groups = defaultdict(list)
    for text, label in train:
        groups[label].append(text)
    args = EmbeddingTrainingArguments(epochs=options.epochs, batch_size=options.batch_size,
                                      learning_rate=options.learning_rate, scale=options.scale, seed=options.seed)
    model, stats = train_embedder(stock_path, groups, args)
    tuned = encoder(model)
    after = (score(tuned, train, queries), score(tuned, train, fresh))
    if options.save:
        model.save(str(options.save))

    print(f"\nBanking77, 1-NN over train ({len(train)} texts) -> {split_name}; torch threads "
          f"{torch.get_num_threads()}, device {stats.device}")
    print(f"arguments: {args}")
    print(f"| model | top-1 ({len(queries)} queries) | top-1 without the {len(queries) - len(fresh)} texts also in train |")
    print("| --- | --- | --- |")
    print(f"| all-MiniLM-L6-v2 (stock) | {before[0]:.4f} | {before[1]:.4f} |")
    print(f"| fine-tuned, MNRL | {after[0]:.4f} | {after[1]:.4f} |")
    print(f"training: {stats.steps} steps, {stats.pairs} pairs, {stats.seconds:.0f} s "
          f"({stats.seconds / 60:.1f} min), final loss {stats.final_loss}")


if __name__ == "__main__":
    main()
