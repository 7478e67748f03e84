"""Optuna slice plots (validation score against each parameter) drawn with matplotlib.

Optuna's own ``plot_slice`` needs plotly; these read the trials table a study was exported to,
so the report can redraw them without the study's storage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lossbench.report.figures import plt, save
from matplotlib.ticker import NullFormatter

SHARED_FIRST = ("param_lr", "param_weight_decay")


def param_columns(trials: pd.DataFrame) -> list[str]:
    """The ``param_*`` columns, shared ones first."""
    columns = [c for c in trials.columns if c.startswith("param_")]
    return [c for c in SHARED_FIRST if c in columns] + [c for c in columns if c not in SHARED_FIRST]


def log_scaled(space: dict | None) -> set[str]:
    """Parameters sampled on a log scale: the shared ones and those the stored search space
    (``{name: {"kind", "low", "high", "log", …}}``, written by tuning) marks ``log``."""
    return {"lr", "weight_decay"} | {name for name, spec in (space or {}).items()
                                     if isinstance(spec, dict) and spec.get("log")}


def _draw(axis, trials: pd.DataFrame, column: str, best_number: int | None, log: bool) -> None:
    finished = trials[trials.state.isin(["COMPLETE", "PRUNED"]) & trials.value.notna()]
    values = finished[column]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:  # categorical parameter: one column of points per choice
        choices = sorted(values.astype(str).unique())
        x = values.astype(str).map({c: i for i, c in enumerate(choices)}).astype(float)
        x = x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x))
        axis.set_xticks(range(len(choices)), choices)
    else:
        x = values.astype(float)
        if log and (x > 0).all():
            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short spans
    complete = (finished.state == "COMPLETE").to_numpy()
    axis.scatter(x[complete], finished.value[complete], c=finished.number[complete],
                 cmap="viridis", s=18, label="complete (colour: trial number)")
    axis.scatter(x[~complete], finished.value[~complete], marker="x", color="0.5", s=18,
                 label="pruned (last score)")
    best = finished[finished.number == best_number] if best_number is not None else None
    if best is not None and len(best):
        axis.scatter(x[finished.number == best_number], best.value, s=80, facecolors="none",
                     edgecolors="#c44e52", linewidths=1.5, label="chosen")
    axis.set_xlabel(column.removeprefix("param_"))


def slice_grid(trials: dict[str, pd.DataFrame], chosen: dict[str, int | None], title: str,
               path: Path, spaces: dict[str, dict] | None = None) -> Path | None:
    """One row per loss, one panel per parameter: validation macro-F1 of each trial."""
    trials = {loss: frame for loss, frame in trials.items() if len(frame)}
    if not trials:
        return None
    columns = max(len(param_columns(frame)) for frame in trials.values())
    height = 2.3 * len(trials) + 0.8
    figure, axes = plt.subplots(len(trials), columns, squeeze=False,
                                figsize=(3.0 * columns + 0.6, height))
    # A fixed layout: the constrained one costs seconds on a grid of 30-40 panels.
    figure.subplots_adjust(left=0.6 / (3.0 * columns + 0.6) + 0.04, right=0.98,
                           bottom=0.55 / height, top=1 - 0.7 / height, hspace=0.6, wspace=0.3)
    for row, (loss, frame) in enumerate(trials.items()):
        params, log = param_columns(frame), log_scaled((spaces or {}).get(loss))
        for col in range(columns):
            axis = axes[row][col]
            if col >= len(params):
                axis.set_visible(False)
                continue
            _draw(axis, frame, params[col], chosen.get(loss),
                  params[col].removeprefix("param_") in log)
            if col == 0:
                axis.set_ylabel(f"{loss}\nval macro-F1")
    axes[0][0].legend(fontsize=6, loc="lower left")
    figure.suptitle(title)
    return save(figure, path)
