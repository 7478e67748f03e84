"""``PreparedData``: the train / validation / test tensors a benchmark run trains and scores on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class PreparedData:
    """One dataset after the test split, the long-tail profile and the validation split.

    ``x_*`` are float32 (N, D) features when ``kind == "features"`` and uint8 (N, 3, H, W) images when
    ``kind == "images"``; ``y_*`` are int64 (N,). The ``*_counts`` lists hold one count per class,
    every class listed: ``pool_counts`` is what the source had for train + validation once the test
    split was set apart. ``groups_*`` hold the group (person) id of each row where the source has
    groups, else None. ``oracle_test_pred`` holds the Bayes-optimal predictions on the test rows
    (gaussian only). ``description`` is plain JSON-able data for the report.
    """

    name: str
    class_names: list[str]
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_counts: list[int]
    val_counts: list[int]
    test_counts: list[int]
    pool_counts: list[int]
    kind: str
    groups_train: torch.Tensor | None = None
    groups_val: torch.Tensor | None = None
    groups_test: torch.Tensor | None = None
    oracle_test_pred: torch.Tensor | None = None
    description: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, list[int]]:
        """Per-class counts of every split: ``{"pool": …, "train": …, "val": …, "test": …}``."""
        return {"pool": self.pool_counts, "train": self.train_counts,
                "val": self.val_counts, "test": self.test_counts}
