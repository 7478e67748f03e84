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
PANEL_W, PANEL_H = 3.5, 2.8
"""Inches of one panel: a one-loss grid of three parameters is about 1,100 × 390 pixels."""
RANGE_COLOUR = "#55a868"
FONTS = {"xtick.labelsize": 9, "ytick.labelsize": 9, "axes.labelsize": 10,
         "figure.titlesize": 12}
"""Larger than the other figures' fonts: a wide grid is shown narrower than its pixels."""


def param_columns(trials: pd.DataFrame) -> list[str]:
    """The ``param_*`` columns, shared ones first."""
    columns = [c for c in trials.columns if c.startswith("param_")]
    return [c for c in SHARED_FIRST if c in columns] + [c for c in columns if c not in SHARED_FIRST]


def log_scaled(space: dict | None) -> set[str]:
    """Parameters sampled on a log scale: the shared ones and those the stored search space
    (``{name: {"kind", "low", "high", "log", …}}``, written by tuning) marks ``log``."""
    return {"lr", "weight_decay"} | {name for name, spec in (space or {}).items()
                                     if isinstance(spec, dict) and spec.get("log")}


def _choice(value) -> str:
    """A choice as its tick label: 0.99 and 0.9900 alike, integers without a decimal point."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(spec: dict | None) -> tuple[float, float] | None:
    """The searched (low, high) of a numeric parameter's stored spec, if it has one."""
    if not isinstance(spec, dict) or spec.get("kind", "float") not in ("float", "int"):
        return None
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (low, high)) or high <= low:
        return None
    return float(low), float(high)


def _mark_range(axis, bounds: tuple[float, float], log: bool, x: pd.Series) -> None:
    """Shade the searched range, draw its bounds, and show a little beyond them (and every
    trial, should one lie outside)."""
    low, high = bounds
    axis.axvspan(low, high, color=RANGE_COLOUR, alpha=0.10, zorder=0, label="searched range")
    for bound in bounds:
        axis.axvline(bound, color=RANGE_COLOUR, linestyle="--", linewidth=1.0, zorder=1)
    if len(x) and np.isfinite(x).all():
        low, high = min(low, float(x.min())), max(high, float(x.max()))
    if log and low > 0:
        span = np.log10(high) - np.log10(low)
        axis.set_xlim(10 ** (np.log10(low) - 0.04 * span), 10 ** (np.log10(high) + 0.04 * span))
    else:
        span = high - low
        axis.set_xlim(low - 0.04 * span, high + 0.04 * span)


def _draw(axis, trials: pd.DataFrame, column: str, best_number: int | None, log: bool,
          spec: dict | None = None) -> None:
    finished = trials[trials.state.isin(["COMPLETE", "PRUNED"]) & trials.value.notna()]
    values = finished[column]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric or (spec or {}).get("kind") == "categorical":
        # one column of points per choice, every searched choice shown (tried or not)
        searched = [_choice(c) for c in (spec or {}).get("choices") or []]
        choices = list(dict.fromkeys(searched + sorted(values.map(_choice).unique())))
        values = values.map(_choice)
        x = values.map({c: i for i, c in enumerate(choices)}).astype(float)
        x = x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x))
        axis.set_xticks(range(len(choices)), choices)
        axis.set_xlim(-0.5, len(choices) - 0.5)
    else:
        x = values.astype(float)
        bounds = _range(spec)
        log = log and (x > 0).all() and (bounds is None or bounds[0] > 0)
        if log:
            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short spans
        if bounds is not None:
            _mark_range(axis, bounds, log, x)
    complete = (finished.state == "COMPLETE").to_numpy()
    axis.scatter(x[complete], finished.value[complete], c=finished.number[complete],
                 cmap="viridis", s=22, label="complete (colour: trial number)", zorder=3)
    axis.scatter(x[~complete], finished.value[~complete], marker="x", color="0.5", s=22,
                 label="pruned (last score)", zorder=3)
    best = finished[finished.number == best_number] if best_number is not None else None
    if best is not None and len(best):
        axis.scatter(x[finished.number == best_number], best.value, s=90, facecolors="none",
                     edgecolors="#c44e52", linewidths=1.6, label="chosen", zorder=4)
    axis.set_xlabel(column.removeprefix("param_"))


def slice_grid(trials: dict[str, pd.DataFrame], chosen: dict[str, int | None], title: str,
               path: Path, spaces: dict[str, dict] | None = None) -> Path | None:
    """One row per loss, one panel per parameter: validation macro-F1 of each trial, with the
    searched range of the parameter shaded (from the stored search space, ``spaces[loss]``)."""
    trials = {loss: frame for loss, frame in trials.items() if len(frame)}
    if not trials:
        return None
    with plt.rc_context(FONTS):
        return _grid(trials, chosen, title, path, spaces)


def _grid(trials: dict[str, pd.DataFrame], chosen: dict[str, int | None], title: str,
          path: Path, spaces: dict[str, dict] | None) -> Path:
    columns = max(len(param_columns(frame)) for frame in trials.values())
    width = PANEL_W * max(columns, 2) + 1.0
    height = PANEL_H * len(trials) + 1.3
    figure, axes = plt.subplots(len(trials), max(columns, 2), squeeze=False,
                                figsize=(width, height))
    # A fixed layout: the constrained one costs seconds on a grid of 30-40 panels.
    figure.subplots_adjust(left=1.0 / width, right=1 - 0.2 / width, bottom=0.6 / height,
                           top=1 - 1.1 / height, hspace=0.55, wspace=0.28)
    for row, (loss, frame) in enumerate(trials.items()):
        params, space = param_columns(frame), (spaces or {}).get(loss) or {}
        log = log_scaled(space)
        for col in range(max(columns, 2)):
            axis = axes[row][col]
            if col >= len(params):
                axis.set_visible(False)
                continue
            name = params[col].removeprefix("param_")
            _draw(axis, frame, params[col], chosen.get(loss), name in log, space.get(name))
            if col == 0:
                axis.set_ylabel(f"{loss}\nval macro-F1")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", ncol=len(labels), fontsize=9,
                  bbox_to_anchor=(1 - 0.2 / width, 1 - 0.45 / height), frameon=False)
    figure.suptitle(title, x=1.0 / width, y=1 - 0.12 / height, ha="left")
    return save(figure, path)
