"""The results folder of one suite: ``ResultStore`` owns every path under ``results/<suite>/``.

Layout::

    suite.toml            the suite as run          environment.json  versions, device, commit, time
    datasets/<d>.json     splits and sizes          studies.db        Optuna studies (SQLite default)
    trials/<d>/<l>.csv    every trial of a study    runs/<d>/<l>/seed<k>.json  one final run each
    runs.jsonl            all runs, one a line      per_class.csv     per-class test metrics, all runs

One file per final run lets a rerun skip what is stored and lets many workers write side by side.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from lossbench.store.io import (
    _finite,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    safe_name,
)


class ResultStore:
    """Read and write one suite's results folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def write_json(self, relative: str, value: Any) -> None:
        atomic_write_json(self.path(relative), value)

    def read_json(self, relative: str) -> Any:
        return json.loads(self.path(relative).read_text(encoding="utf-8"))

    def run_path(self, dataset: str, loss: str, seed: int) -> Path:
        return self.path("runs", safe_name(dataset), safe_name(loss), f"seed{seed}.json")

    def load_run(self, dataset: str, loss: str, seed: int, expected: str) -> dict | None:
        """The stored run with fingerprint ``expected``; None when absent or made differently."""
        path = self.run_path(dataset, loss, seed)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # cannot happen with atomic writes; rerun rather than trust it
        return record if record.get("fingerprint") == expected else None

    def save_run(self, record: dict) -> None:
        atomic_write_json(self.run_path(record["dataset"], record["loss"], record["seed"]), record)

    def runs(self) -> Iterator[dict]:
        """Every stored run record, in a stable order."""
        for path in sorted(self.path("runs").glob("*/*/seed*.json")):
            yield json.loads(path.read_text(encoding="utf-8"))

    def write_aggregates(self, keep: set[tuple[str, str, int]] | None = None) -> int:
        """Rewrite ``runs.jsonl`` and ``per_class.csv`` from the run files; returns the run count.

        ``keep`` limits them to those (dataset, loss, seed) keys (the current suite's runs).
        """
        records = [r for r in self.runs()
                   if keep is None or (r["dataset"], r["loss"], r["seed"]) in keep]
        lines = [json.dumps(_finite(r), sort_keys=True) for r in records]
        atomic_write_text(self.path("runs.jsonl"), "".join(line + "\n" for line in lines))
        atomic_write_csv(self.path("per_class.csv"), per_class_frame(records))
        return len(records)


def per_class_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (dataset, loss, seed, class) with the test precision, recall, F1, support."""
    rows = []
    for record in records:
        test = record.get("test")
        if not test:
            continue
        per_class = test["per_class"]
        for index, name in enumerate(record["class_names"]):
            rows.append({"dataset": record["dataset"], "loss": record["loss"],
                         "seed": record["seed"], "class_index": index, "class_name": name,
                         "train_count": record["train_counts"][index],
                         "group": per_class["group"][index],
                         "precision": per_class["precision"][index],
                         "recall": per_class["recall"][index], "f1": per_class["f1"][index],
                         "support": per_class["support"][index]})
    columns = ["dataset", "loss", "seed", "class_index", "class_name", "train_count", "group",
               "precision", "recall", "f1", "support"]
    return pd.DataFrame(rows, columns=columns)
