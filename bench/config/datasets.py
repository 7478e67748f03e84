"""Datasets of a suite: one ``[[datasets]]`` table, validated into a ``DatasetEntry``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lossbench.config.schema import FEATURE_MODELS, IMAGE_MODELS
from lossbench.errors import UserError, shown, unknown_name

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
        raise UserError(f"{where} must be a table, got {shown(table)}")
    spec_table = {k: v for k, v in table.items() if k not in RUNNER_KEYS}
    model = table.get("model")
    if model is not None:
        allowed = sorted(set(FEATURE_MODELS) | set(IMAGE_MODELS))
        if not isinstance(model, str) or model not in allowed:
            raise unknown_name(f"value for {where}.model:", str(model), allowed)
    budget = table.get("budget")
    if budget is not None and not isinstance(budget, dict):
        raise UserError(f"{where}.budget must be a table, got {shown(budget)}")
    try:
        spec = DatasetSpec.from_dict(spec_table)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return DatasetEntry(name=spec.name, spec=spec, table=dict(table), model=model, budget=budget)
