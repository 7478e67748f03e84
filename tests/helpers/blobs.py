"""Separable Gaussian blobs: a tiny long-tailed feature data set for training-loop tests."""

import torch
from lossbench.engine.data import Split, TrainValData


def blobs(n_per_class=(40, 20, 6), dim=5, seed=0) -> TrainValData:
    """Classes of ``n_per_class`` training rows (10 validation rows each) around random centres."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(len(n_per_class), dim, generator=generator) * 3

    def split(counts):
        y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        return Split(centres[y] + torch.randn(len(y), dim, generator=generator), y)

    names = [chr(ord("a") + c) for c in range(len(n_per_class))]
    return TrainValData("blobs", "features", len(n_per_class), names, list(n_per_class),
                        split(n_per_class), split((10,) * len(n_per_class)), torch.zeros(1, dim),
                        torch.ones(1, dim))
