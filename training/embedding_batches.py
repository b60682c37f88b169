"""One epoch's batches for embedder training: groups' texts for the proxy loss, pairs of one group for mnrl."""

import random
from collections.abc import Mapping


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


def group_batches(groups: Mapping[str, list[str]], batch_size: int, per_group: int,
                  rng: random.Random) -> list[list[tuple[str, str]]]:
    """One epoch for the proxy loss: every text once, as (text, group), in batches of up to `batch_size`
    texts with at most `per_group` of one group. The fullest groups are drawn first so that the large ones
    are spread over the epoch; the batches are then shuffled."""
    queues = {label: rng.sample(texts, len(texts)) for label, texts in groups.items()}
    batches = []
    while queues:
        labels = list(queues)
        rng.shuffle(labels)  # random tie-break between equally full groups
        labels.sort(key=lambda label: len(queues[label]), reverse=True)
        batch: list[tuple[str, str]] = []
        for label in labels:
            take = min(per_group, len(queues[label]), batch_size - len(batch))
            batch += [(queues[label].pop(), label) for _ in range(take)]
            if not queues[label]:
                del queues[label]
            if len(batch) == batch_size:
                break
        batches.append(batch)
    rng.shuffle(batches)
    return batches
