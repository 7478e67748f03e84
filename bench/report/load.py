"""Reading a results folder back, through ``ResultStore`` only: everything the report needs.

The run files under ``runs/`` are the source of truth: the summaries (``runs.jsonl``,
``per_class.csv``) are never trusted over them, so a torn or stale summary cannot change a
verdict. The unit of every statistic is the replicate: a replicate's value is the mean over its
final seeds. Every file is read through ``ResultStore``, which checks it as it reads: a damaged one
(not JSON or CSV, cut short, a run record without its scores) stops the report with one line that
names the file and what to do (``store.results.DamagedFile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from lossbench.errors import UserError, shown
from lossbench.store import ResultStore, per_class_frame

SUMMARY_METRICS = ("macro_f1", "balanced_accuracy", "accuracy", "worst_class_f1", "many_f1",
                   "medium_f1", "few_f1", "ece")
BASELINE = "ce"


@dataclass
class Results:
    """One suite's stored results."""

    store: ResultStore
    suite: dict
    environment: dict
    runs: list[dict]
    """Run records (``runs/``), each with its test metrics."""
    per_class: pd.DataFrame
    """One row per (dataset, loss, replicate, seed, class): precision, recall, F1, support."""
    datasets: dict[str, dict]
    """Protocol of each dataset: spec, counts per split, description."""
    chosen: dict[tuple[str, str], dict[int, dict]]
    """Chosen trial of each (dataset, loss) study, by replicate."""
    trials: dict[tuple[str, str], pd.DataFrame]
    """Every trial of each (dataset, loss) study, all replicates (column ``replicate``)."""

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def dataset_names(self) -> list[str]:
        named = [d for d in self.suite.get("datasets", []) if d in self.datasets]
        return named + sorted(set(self.datasets) - set(named))

    def losses(self, dataset: str) -> list[str]:
        """Losses and baselines with runs on ``dataset``: the suite's losses in its order, then
        the baselines."""
        present = {r["loss"] for r in self.runs if r["dataset"] == dataset}
        order = list(self.suite.get("losses", [])) + list(self.suite.get("baselines", []))
        ordered = [name for name in order if name in present]
        return ordered + sorted(present - set(ordered))

    def is_baseline(self, loss: str) -> bool:
        return any(r.get("baseline") for r in self.runs if r["loss"] == loss)

    def run_frame(self) -> pd.DataFrame:
        """One row per run: dataset, loss, replicate, seed, status, scores."""
        rows = []
        for record in self.runs:
            summary = (record.get("test") or {}).get("summary", {})
            rows.append({"dataset": record["dataset"], "loss": record["loss"],
                         "replicate": record.get("replicate", 0), "seed": record["seed"],
                         "status": record["status"],
                         "val_macro_f1": record.get("val_macro_f1"),
                         "best_epoch": record.get("best_epoch"),
                         "train_seconds": record.get("train_seconds"),
                         "oracle_macro_f1": (record.get("test") or {}).get("oracle_macro_f1"),
                         **{m: summary.get(m) for m in SUMMARY_METRICS}})
        columns = ["dataset", "loss", "replicate", "seed", "status", "val_macro_f1",
                   "oracle_macro_f1", *SUMMARY_METRICS]
        frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
        return frame.astype({m: float for m in (*SUMMARY_METRICS, "val_macro_f1",
                                                "oracle_macro_f1")})

    def replicate_frame(self, dataset: str) -> pd.DataFrame:
        """One row per (loss, replicate) of ``dataset``: the mean over the replicate's final
        seeds of every score (failed runs left out)."""
        frame = self.run_frame()
        frame = frame[(frame.dataset == dataset) & (frame.status != "failed")]
        numeric = ["val_macro_f1", "oracle_macro_f1", *SUMMARY_METRICS]
        return frame.groupby(["loss", "replicate"], as_index=False)[numeric].mean()

    def records(self, dataset: str, loss: str) -> list[dict]:
        return sorted((r for r in self.runs if r["dataset"] == dataset and r["loss"] == loss
                       and r.get("test")), key=lambda r: (r.get("replicate", 0), r["seed"]))


def load_results(root: Path) -> Results:
    """Read ``root`` (a folder written by ``lossbench run``)."""
    store = ResultStore(Path(root))
    if store.root.exists() and not store.root.is_dir():
        raise UserError(f"results folder {shown(str(root))} is a file, not a folder")
    if not store.root.is_dir():
        raise UserError(f"results folder {shown(str(root))} does not exist")
    runs = list(store.runs())
    if not runs:
        raise UserError(f"{str(root)!r} holds no finished runs: not a folder written by "
                        "'lossbench run', or no final run has finished yet")
    datasets = store.datasets()
    chosen, trials = {}, {}
    for name in datasets:
        for loss in {r["loss"] for r in runs if r["dataset"] == name}:
            picks = store.chosen(name, loss)
            if picks:
                chosen[(name, loss)] = picks
            frame = store.trials(name, loss)
            if len(frame):
                trials[(name, loss)] = frame
    return Results(store=store, suite=store.read_json(store.suite_json, default={}),
                   environment=store.read_json(store.environment_json, default={}), runs=runs,
                   per_class=per_class_frame(runs), datasets=datasets, chosen=chosen,
                   trials=trials)
