"""The results folder of one suite: ``ResultStore`` owns every path under ``results/<suite>/``.

Layout::

    suite.toml, suite.json        the suite as run       environment.json  versions, device, time
    datasets/<d>.json             splits and sizes       studies.db        Optuna studies (SQLite)
    trials/<d>/<l>/r<r>.csv       every trial of the study of replicate r (and r<r>.json: the chosen)
    runs/<d>/<l>/r<r>-seed<k>.json   one final run each: the source of truth for the report
    runs.jsonl, per_class.csv     every run, one a line / per-class test metrics (summaries)
    verdict.json                  per dataset: the choice, the tied set, each loss's category
    report.md, report.html, tables/*.csv, figures/*.png

One file per final run lets a rerun skip what is stored and lets many workers write side by side.
Names of datasets and losses become folder names through ``folder_name`` (never two names in one
folder).
"""

from __future__ import annotations

import hashlib
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


def folder_name(name: str) -> str:
    """``name`` as one path component; a name that is not already safe gets a short hash of
    itself, so two names that clean to the same text ("digits ρ≥10", "digits ρ<10") never
    share a folder."""
    cleaned = safe_name(name)
    if cleaned == name:
        return cleaned
    return f"{cleaned}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


REFERENCE = "reference"
"""``results/reference/`` holds the committed canonical results; ``make bench`` writes beside it."""


class ResultStore:
    """Read and write one suite's results folder: the only place its paths are spelled."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    # ---------------------------------------------------------------- the files of the folder
    suite_toml = property(lambda self: self.path("suite.toml"))
    suite_json = property(lambda self: self.path("suite.json"))
    environment_json = property(lambda self: self.path("environment.json"))
    verdict_json = property(lambda self: self.path("verdict.json"))
    runs_jsonl = property(lambda self: self.path("runs.jsonl"))
    per_class_csv = property(lambda self: self.path("per_class.csv"))
    report_md = property(lambda self: self.path("report.md"))
    report_html = property(lambda self: self.path("report.html"))

    @property
    def reference_root(self) -> Path | None:
        """Where the committed reference of this suite lives: ``results/reference/<suite>/``
        beside ``results/<suite>/`` (None for a folder that is itself under ``reference/``)."""
        if self.root.resolve().parent.name == REFERENCE:
            return None
        return self.root.parent / REFERENCE / self.root.name

    def studies_url(self) -> str:
        """The default SQLite study file, ``<results>/studies.db`` (relative paths stay
        relative, so no home folder ends up in a committed report); the folder is made."""
        self.root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.path('studies.db').as_posix()}"

    def dataset_json(self, dataset: str) -> Path:
        return self.path("datasets", f"{folder_name(dataset)}.json")

    def trials_csv(self, dataset: str, loss: str, replicate: int) -> Path:
        return self.path("trials", folder_name(dataset), folder_name(loss), f"r{replicate}.csv")

    def chosen_json(self, dataset: str, loss: str, replicate: int) -> Path:
        return self.path("trials", folder_name(dataset), folder_name(loss), f"r{replicate}.json")

    def run_path(self, dataset: str, loss: str, replicate: int, seed: int) -> Path:
        return self.path("runs", folder_name(dataset), folder_name(loss),
                         f"r{replicate}-seed{seed}.json")

    def table_csv(self, name: str) -> Path:
        return self.path("tables", f"{folder_name(name)}.csv")

    def figure_png(self, name: str) -> Path:
        return self.path("figures", f"{folder_name(name)}.png")

    def slice_png(self, dataset: str, loss: str) -> Path:
        return self.figure_png(f"slice_{safe_name(dataset)}_{safe_name(loss)}")

    def relative(self, path: Path) -> str:
        """``path`` relative to the results folder (as the report links it)."""
        return Path(path).relative_to(self.root).as_posix()

    # ---------------------------------------------------------------- reading and writing
    def write_json(self, path: Path | str, value: Any) -> None:
        atomic_write_json(self.path(path) if isinstance(path, str) else path, value)

    def read_json(self, path: Path | str, default: Any = None) -> Any:
        """The JSON at ``path``; ``default`` when the file is absent (None: an error)."""
        path = self.path(path) if isinstance(path, str) else Path(path)
        if default is not None and not path.is_file():
            return default
        return json.loads(path.read_text(encoding="utf-8"))

    def write_csv(self, path: Path, frame: pd.DataFrame) -> None:
        atomic_write_csv(path, frame)

    def write_text(self, path: Path, text: str) -> None:
        atomic_write_text(path, text)

    def load_run(self, dataset: str, loss: str, replicate: int, seed: int,
                 expected: str) -> dict | None:
        """The stored run with fingerprint ``expected``; None when absent or made differently."""
        path = self.run_path(dataset, loss, replicate, seed)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # cannot happen with atomic writes; rerun rather than trust it
        return record if record.get("fingerprint") == expected else None

    def save_run(self, record: dict) -> None:
        atomic_write_json(self.run_path(record["dataset"], record["loss"], record["replicate"],
                                        record["seed"]), record)

    def runs(self) -> Iterator[dict]:
        """Every stored run record (the source of truth), in a stable order."""
        for path in sorted(self.path("runs").glob("*/*/r*-seed*.json")):
            yield json.loads(path.read_text(encoding="utf-8"))

    def datasets(self) -> dict[str, dict]:
        """The protocol record of every dataset, by dataset name."""
        records = [json.loads(p.read_text(encoding="utf-8"))
                   for p in sorted(self.path("datasets").glob("*.json"))]
        return {record["name"]: record for record in records if "name" in record}

    def chosen(self, dataset: str, loss: str) -> dict[int, dict]:
        """The chosen trial of every replicate's study of (dataset, loss)."""
        folder = self.chosen_json(dataset, loss, 0).parent
        out = {}
        for path in sorted(folder.glob("r*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            out[int(record.get("replicate", path.stem[1:]))] = record
        return out

    def trials(self, dataset: str, loss: str) -> pd.DataFrame:
        """Every trial of every replicate's study of (dataset, loss), with a ``replicate``
        column."""
        folder = self.trials_csv(dataset, loss, 0).parent
        frames = []
        for path in sorted(folder.glob("r*.csv")):
            frame = pd.read_csv(path)
            frame.insert(0, "replicate", int(path.stem[1:]))
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def write_aggregates(self) -> int:
        """Rewrite ``runs.jsonl`` and ``per_class.csv`` from every run file; returns the run
        count. They summarise the folder, never one invocation, so a subset run (``--losses``)
        adds to a finished suite and removes nothing."""
        records = list(self.runs())
        lines = [json.dumps(_finite(r), sort_keys=True) for r in records]
        atomic_write_text(self.runs_jsonl, "".join(line + "\n" for line in lines))
        atomic_write_csv(self.per_class_csv, per_class_frame(records))
        return len(records)


def per_class_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (dataset, loss, replicate, seed, class) with the test precision, recall, F1, support."""
    rows = []
    for record in records:
        test = record.get("test")
        if not test:
            continue
        per_class = test["per_class"]
        for index, name in enumerate(record["class_names"]):
            rows.append({"dataset": record["dataset"], "loss": record["loss"],
                         "replicate": record.get("replicate", 0), "seed": record["seed"], "class_index": index, "class_name": name,
                         "train_count": record["train_counts"][index],
                         "group": per_class["group"][index],
                         "precision": per_class["precision"][index],
                         "recall": per_class["recall"][index], "f1": per_class["f1"][index],
                         "support": per_class["support"][index]})
    columns = ["dataset", "loss", "replicate", "seed", "class_index", "class_name", "train_count", "group",
               "precision", "recall", "f1", "support"]
    return pd.DataFrame(rows, columns=columns)
