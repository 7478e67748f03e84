"""The runner's view of the datasets: suite entries, and the train/validation data training sees.

``dev_view(prepared)`` copies the train and validation splits out of a ``PreparedData`` into a
``DevData`` that has no test split at all, so tuning and training cannot read the test set by
construction; only ``lossbench.evaluate`` reads it, after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from lossbench.config import FEATURE_MODELS, IMAGE_MODELS
from lossbench.errors import UserError
from lossbench.validate import unknown_name

RUNNER_KEYS = ("model", "budget")
"""Keys of a suite's dataset table that the runner reads; the rest belongs to DatasetSpec."""


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of a suite: the validated spec, its name and the table it came from."""

    name: str
    spec: Any
    table: dict
    model: str | None = None
    """A model name that overrides the suite's for this dataset."""
    budget: dict | None = None
    """Budget keys that override the suite's for this dataset (validated by the suite)."""


def with_options(table: Any, overrides: dict[str, Any]) -> tuple[Any, list[str]]:
    """``table`` with ``overrides`` put into its ``options`` where its source has such options
    (e.g. ``--root`` for the mask source); returns the table and the options applied."""
    from lossbench.datasets import available_sources, get_source

    source = table.get("source") if isinstance(table, dict) else None
    if not overrides or source not in available_sources():
        return table, []
    names = {option.name for option in get_source(source).options}
    applied = {k: v for k, v in overrides.items() if k in names}
    if not applied:
        return table, []
    options = table.get("options", {})
    if not isinstance(options, dict):
        return table, []  # DatasetSpec reports the bad options table
    return {**table, "options": {**options, **applied}}, sorted(applied)


def parse_dataset(table: Any, where: str) -> DatasetEntry:
    """A DatasetEntry from one ``[[datasets]]`` table; errors name ``where`` and the key."""
    from lossbench.datasets import DatasetSpec

    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table, got {table!r}")
    spec_table = {k: v for k, v in table.items() if k not in RUNNER_KEYS}
    model = table.get("model")
    if model is not None:
        allowed = sorted(set(FEATURE_MODELS) | set(IMAGE_MODELS))
        if not isinstance(model, str) or model not in allowed:
            raise unknown_name(f"value for {where}.model:", str(model), allowed)
    budget = table.get("budget")
    if budget is not None and not isinstance(budget, dict):
        raise UserError(f"{where}.budget must be a table, got {budget!r}")
    try:
        spec = DatasetSpec.from_dict(spec_table)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return DatasetEntry(name=spec.name, spec=spec, table=dict(table), model=model, budget=budget)


@dataclass
class Split:
    """Inputs and labels of one split, as tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class DevData:
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

    def to(self, device: torch.device) -> DevData:
        """A copy whose tensors live on ``device``."""
        move = lambda s: Split(s.x.to(device), s.y.to(device))
        return DevData(self.name, self.kind, self.num_classes, self.class_names, self.train_counts,
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


def dev_view(prepared: Any) -> DevData:
    """Train and validation data of ``prepared``, without reading anything of its test split."""
    kind = prepared.kind
    if kind not in ("features", "images"):
        raise ValueError(f"dataset {prepared.name!r} has kind {kind!r}; expected features or images")
    mean, std = _input_stats(prepared.x_train, kind)
    return DevData(
        name=prepared.name, kind=kind, num_classes=int(prepared.num_classes),
        class_names=[str(c) for c in prepared.class_names],
        train_counts=[int(c) for c in prepared.train_counts],
        train=Split(prepared.x_train, prepared.y_train.long()),
        val=Split(prepared.x_val, prepared.y_val.long()), mean=mean, std=std)
