"""The proxy loss of embedder training: each text classified among one learned vector per group, with a
cosine margin on its own group (CosFace, Wang et al. 2018); the vectors start at the groups' centroids."""

from collections.abc import Mapping, Sequence

import numpy as np


class ProxyMarginLoss:
    """Cross-entropy of each text over all groups' proxies: logits are `scale * cos(text, proxy)`, with
    `margin` subtracted from the text's own group. The proxies are a trainable (groups x dims) tensor."""

    def __init__(self, proxies, label_ids: Mapping[str, int], scale: float, margin: float):
        import torch

        self.proxies = torch.nn.Parameter(proxies)
        self.label_ids = dict(label_ids)
        self.scale, self.margin = scale, margin

    def __call__(self, embeddings, labels: Sequence[str]):
        import torch
        import torch.nn.functional as F

        targets = torch.tensor([self.label_ids[label] for label in labels], device=embeddings.device)
        cosines = F.normalize(embeddings, dim=-1) @ F.normalize(self.proxies, dim=-1).T
        cosines = cosines - self.margin * F.one_hot(targets, cosines.shape[1]).to(cosines.dtype)
        return F.cross_entropy(self.scale * cosines, targets)


def group_centroids(model, groups: Mapping[str, list[str]], batch_size: int = 128):
    """(label -> row, unit-length centroid of each group's texts under `model`) for starting the proxies."""
    import torch

    labels = sorted(groups)
    texts = [text for label in labels for text in groups[label]]
    embedded = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)  # one pass over all texts, not one per group
    vectors, start = [], 0
    for label in labels:
        centroid = embedded[start:start + len(groups[label])].mean(axis=0)
        vectors.append(centroid / max(float(np.linalg.norm(centroid)), 1e-12))
        start += len(groups[label])
    return {label: i for i, label in enumerate(labels)}, torch.tensor(np.stack(vectors))
