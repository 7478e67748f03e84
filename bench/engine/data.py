"""The data training sees: the train and validation splits of a dataset, as tensors.

``train_val_view(prepared)`` copies the train and validation splits out of a ``PreparedData`` into
a ``TrainValData`` that has no test split at all, so tuning and training cannot read the test set by
construction; only ``lossbench.evaluation`` reads it, after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Split:
    """Inputs and labels of one split, as tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class TrainValData:
    """Train and validation splits of one dataset, with the train split's input statistics."""

    name: str
    kind: str
    num_classes: int
    class_names: list[str]
    train_counts: list[int]
    train: Split
    val: Split
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def to(self, device: torch.device) -> TrainValData:
        """A copy whose tensors live on ``device``."""
        move = lambda s: Split(s.x.to(device), s.y.to(device))
        return TrainValData(self.name, self.kind, self.num_classes, self.class_names, self.train_counts,
                       move(self.train), move(self.val), self.mean.to(device), self.std.to(device))

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs (float features or uint8 images) standardised with the train statistics."""
        return (x.float() - self.mean) / self.std


def _input_stats(x: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation per feature (features) or per channel (images), in chunks."""
    dims = (0,) if kind == "features" else (0, 2, 3)
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    square = torch.zeros(x.shape[1], dtype=torch.float64)
    for chunk in torch.split(x, 4096):
        chunk = chunk.double()
        total += chunk.sum(dim=dims)
        square += (chunk * chunk).sum(dim=dims)
    count = x.shape[0] * (1 if kind == "features" else x.shape[2] * x.shape[3])
    mean = total / count
    std = (square / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    shape = (1, -1) if kind == "features" else (1, -1, 1, 1)
    return mean.float().reshape(shape), std.float().reshape(shape)


def train_val_view(prepared: Any) -> TrainValData:
    """Train and validation data of ``prepared``, without reading anything of its test split."""
    kind = prepared.kind
    if kind not in ("features", "images"):
        raise ValueError(f"dataset {prepared.name!r} has kind {kind!r}; expected features or images")
    mean, std = _input_stats(prepared.x_train, kind)
    return TrainValData(
        name=prepared.name, kind=kind, num_classes=int(prepared.num_classes),
        class_names=[str(c) for c in prepared.class_names],
        train_counts=[int(c) for c in prepared.train_counts],
        train=Split(prepared.x_train, prepared.y_train.long()),
        val=Split(prepared.x_val, prepared.y_val.long()), mean=mean, std=std)
