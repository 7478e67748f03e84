"""A classification-report style table for the terminal (``lossbench report DIR --per-class D``).

Like scikit-learn's ``classification_report``, one table per loss: per class its name, training
images, precision, recall, F1 and support, then the macro average and the balanced accuracy and
accuracy. Read from the stored results (``load.Results``) only, nothing is written. The replicate
is the unit, as in the report: a replicate's value is the mean over its final seeds, the table
shows the mean over replicates, and F1 carries its 95 % t-interval over replicates clipped to
[0, 1] (``evaluation.stats.mean_interval``), so no bound leaves the metric's range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lossbench.errors import UserError, nearest, unknown_name
from lossbench.evaluation.stats import mean_interval
from lossbench.report.load import Results

HEADER = ("class", "train images", "precision", "recall", "F1 [95 % interval]", "support")
LEFT = (0,)
"""Columns aligned left (the class name); the numbers align right."""


@dataclass
class PerClassTable:
    """One loss's table: ``rows`` per class (most training images first), then ``totals``."""

    dataset: str
    loss: str
    replicates: int
    rows: list[tuple[str, ...]]
    totals: list[tuple[str, ...]]

    @property
    def title(self) -> str:
        return (f"{self.dataset} / {self.loss}: test metrics, mean over "
                f"{_count(self.replicates, 'replicate')}")


def _count(n: int, noun: str) -> str:
    """``1 replicate``, ``5 replicates``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _mean(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _with_interval(values) -> str:
    """``0.912 [0.874, 0.950]``: the mean and its clipped 95 % interval (the mean alone below
    two replicates)."""
    interval = mean_interval(values, bounds=(0.0, 1.0))
    text = _mean(interval.mean)
    if math.isfinite(interval.low) and math.isfinite(interval.high):
        text += f" [{interval.low:.3f}, {interval.high:.3f}]"
    return text


def _whole(value: float) -> int:
    """``value`` (a mean of counts) rounded to a whole number."""
    return int(np.rint(value))


def _train_images(counts: pd.Series) -> str:
    """The class's training images: one number, or ``low-high`` when replicates differ."""
    low, high = _whole(counts.min()), _whole(counts.max())
    return str(low) if low == high else f"{low}-{high}"


def check_dataset(results: Results, dataset: str) -> None:
    """A UserError naming ``dataset`` and the nearest stored names when it has no runs."""
    stored = sorted({r["dataset"] for r in results.runs if r.get("test")})
    if dataset in stored:
        return
    if dataset in results.suite.get("datasets", []):
        raise UserError(f"dataset {dataset!r} of suite {results.suite.get('name', '?')!r} has "
                        f"no stored final run in {str(results.root)!r}; datasets with runs: "
                        f"{', '.join(stored) or 'none'}")
    raise unknown_name("dataset", dataset, stored)


def check_losses(results: Results, dataset: str, losses: list[str] | None) -> list[str]:
    """``losses`` (all of the dataset's losses and baselines when None or empty), each checked
    against the ones with runs on ``dataset``, in the order given."""
    present = [loss for loss in results.losses(dataset) if results.records(dataset, loss)]
    if not losses:
        return present
    for loss in losses:
        if loss not in present:
            raise UserError(f"unknown loss {loss!r} for dataset {dataset!r}"
                            f"{nearest(loss, present)}; allowed: {', '.join(sorted(present))}")
    return list(dict.fromkeys(losses))


def loss_table(results: Results, dataset: str, loss: str) -> PerClassTable:
    """The per-class table of one loss on ``dataset``."""
    frame = results.per_class
    frame = frame[(frame.dataset == dataset) & (frame.loss == loss)]
    per_replicate = frame.groupby(["class_index", "replicate"], as_index=False).agg(
        class_name=("class_name", "first"), train_count=("train_count", "mean"),
        precision=("precision", "mean"), recall=("recall", "mean"), f1=("f1", "mean"),
        support=("support", "mean"))
    order = (per_replicate.groupby("class_index").train_count.mean().reset_index()
             .sort_values(["train_count", "class_index"], ascending=[False, True]).class_index)
    rows = []
    for index in order:
        group = per_replicate[per_replicate.class_index == index]
        rows.append((str(group.class_name.iloc[0]), _train_images(group.train_count),
                     _mean(group.precision.mean()), _mean(group.recall.mean()),
                     _with_interval(group.f1), str(_whole(group.support.mean()))))
    macro = per_replicate.groupby("replicate")[["precision", "recall", "f1", "support"]]
    averaged = macro.agg({"precision": "mean", "recall": "mean", "f1": "mean", "support": "sum"})
    support = str(_whole(averaged.support.mean())) if len(averaged) else "0"
    replicates = results.replicate_frame(dataset)
    replicates = replicates[replicates.loss == loss]
    totals = [("macro avg", "", _mean(averaged.precision.mean()), _mean(averaged.recall.mean()),
               _with_interval(averaged.f1), support)]
    for metric, label in (("balanced_accuracy", "balanced accuracy"), ("accuracy", "accuracy")):
        totals.append((label, "", "", "", _with_interval(replicates[metric]), support))
    return PerClassTable(dataset=dataset, loss=loss,
                         replicates=int(np.unique(per_replicate.replicate).size),
                         rows=rows, totals=totals)


def per_class_tables(results: Results, dataset: str,
                     losses: list[str] | None = None) -> list[PerClassTable]:
    """One table per loss (all of ``dataset``'s, or ``losses``): a UserError for an unknown
    dataset or loss, naming the nearest stored names."""
    check_dataset(results, dataset)
    return [loss_table(results, dataset, loss) for loss in check_losses(results, dataset, losses)]


NOTE = ("Each replicate's value is the mean over its final seeds; precision, recall and support "
        "are means over replicates; F1, balanced accuracy and accuracy carry the 95 % t-interval "
        "over replicates, clipped to [0, 1]. Classes from most to fewest training images.")
