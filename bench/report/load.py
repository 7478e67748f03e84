"""Reading a results folder back into frames: everything the report needs, nothing recomputed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from lossbench.errors import UserError
from lossbench.store import ResultStore, per_class_frame, safe_name

SUMMARY_METRICS = ("macro_f1", "balanced_accuracy", "accuracy", "worst_class_f1", "many_f1",
                   "medium_f1", "few_f1", "ece")


@dataclass
class Results:
    """One suite's stored results."""

    root: Path
    suite: dict
    environment: dict
    runs: list[dict]
    """Run records (runs.jsonl), each with its test metrics."""
    per_class: pd.DataFrame
    """One row per (dataset, loss, seed, class): precision, recall, F1, support, train count."""
    datasets: dict[str, dict]
    """Protocol of each dataset: spec, counts per split, description."""
    chosen: dict[tuple[str, str], dict]
    """Best trial of each (dataset, loss) study."""
    trials: dict[tuple[str, str], pd.DataFrame]
    """Every trial of each (dataset, loss) study."""

    @property
    def dataset_names(self) -> list[str]:
        named = [d for d in self.suite.get("datasets", []) if d in self.datasets]
        return named or sorted(self.datasets)

    def losses(self, dataset: str) -> list[str]:
        """Losses with runs on ``dataset``, in the suite's order."""
        present = {r["loss"] for r in self.runs if r["dataset"] == dataset}
        ordered = [name for name in self.suite.get("losses", []) if name in present]
        return ordered + sorted(present - set(ordered))

    def run_frame(self) -> pd.DataFrame:
        """One row per run: dataset, loss, seed, status, validation score and test summary."""
        rows = []
        for record in self.runs:
            summary = (record.get("test") or {}).get("summary", {})
            rows.append({"dataset": record["dataset"], "loss": record["loss"],
                         "seed": record["seed"], "status": record["status"],
                         "val_macro_f1": record.get("val_macro_f1"),
                         "best_epoch": record.get("best_epoch"),
                         "train_seconds": record.get("train_seconds"),
                         "oracle_macro_f1": (record.get("test") or {}).get("oracle_macro_f1"),
                         **{m: summary.get(m) for m in SUMMARY_METRICS}})
        return pd.DataFrame(rows).astype({m: float for m in SUMMARY_METRICS}) if rows \
            else pd.DataFrame(columns=["dataset", "loss", "seed", *SUMMARY_METRICS])

    def records(self, dataset: str, loss: str) -> list[dict]:
        return sorted((r for r in self.runs if r["dataset"] == dataset and r["loss"] == loss
                       and r.get("test")), key=lambda r: r["seed"])


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_results(root: Path) -> Results:
    """Read ``root`` (a folder written by ``lossbench run``)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"results folder {str(root)!r} does not exist or is not a folder")
    runs_file, per_class_file = root / "runs.jsonl", root / "per_class.csv"
    if runs_file.is_file():
        runs = [json.loads(line) for line in runs_file.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        per_class = pd.read_csv(per_class_file, dtype={"class_name": str}) \
            if per_class_file.is_file() else per_class_frame(runs)
    else:  # an interrupted run: the per-run files are there, the aggregates not yet
        runs = list(ResultStore(root).runs())
        per_class = per_class_frame(runs)
    if not runs:
        raise UserError(f"{str(root)!r} holds no finished runs: not a folder written by "
                        "'lossbench run', or no final run has finished yet")
    suite = _read_json(root / "suite.json")
    suite_losses = suite.get("losses", [])
    datasets = {p.stem: _read_json(p) for p in sorted((root / "datasets").glob("*.json"))}
    datasets = {d.get("name", stem): d for stem, d in datasets.items()}
    chosen, trials = {}, {}
    for name in datasets:
        folder = root / "trials" / safe_name(name)
        losses = {r["loss"] for r in runs if r["dataset"] == name}
        losses |= {p.stem for p in folder.glob("*.json")} & set(suite_losses)
        for loss in losses:
            if (folder / f"{safe_name(loss)}.json").is_file():
                chosen[(name, loss)] = _read_json(folder / f"{safe_name(loss)}.json")
            if (folder / f"{safe_name(loss)}.csv").is_file():
                trials[(name, loss)] = pd.read_csv(folder / f"{safe_name(loss)}.csv")
    return Results(root=root, suite=suite,
                   environment=_read_json(root / "environment.json"), runs=runs,
                   per_class=per_class, datasets=datasets, chosen=chosen, trials=trials)
