"""Optuna slice plots (validation score against each parameter) drawn with matplotlib.

Optuna's own ``plot_slice`` needs plotly; these read the trials table a study was exported to,
so the report can redraw them without the study's storage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lossbench.report.figures import plt, save

SHARED_FIRST = ("param_lr", "param_weight_decay")


def param_columns(trials: pd.DataFrame) -> list[str]:
    """The ``param_*`` columns, shared ones first."""
    columns = [c for c in trials.columns if c.startswith("param_")]
    return [c for c in SHARED_FIRST if c in columns] + [c for c in columns if c not in SHARED_FIRST]


def _is_log(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return len(numbers) > 1 and bool((numbers > 0).all()) and numbers.max() / numbers.min() > 30


def _draw(axis, trials: pd.DataFrame, column: str, best_number: int | None) -> None:
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
        if _is_log(values):
            axis.set_xscale("log")
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
               path: Path) -> Path | None:
    """One row per loss, one panel per parameter: validation macro-F1 of each trial."""
    trials = {loss: frame for loss, frame in trials.items() if len(frame)}
    if not trials:
        return None
    columns = max(len(param_columns(frame)) for frame in trials.values())
    figure, axes = plt.subplots(len(trials), columns, squeeze=False, layout="constrained",
                                figsize=(3.0 * columns, 2.3 * len(trials)))
    for row, (loss, frame) in enumerate(trials.items()):
        params = param_columns(frame)
        for col in range(columns):
            axis = axes[row][col]
            if col >= len(params):
                axis.set_visible(False)
                continue
            _draw(axis, frame, params[col], chosen.get(loss))
            if col == 0:
                axis.set_ylabel(f"{loss}\nval macro-F1")
    axes[0][0].legend(fontsize=6, loc="lower left")
    figure.suptitle(title)
    return save(figure, path)
