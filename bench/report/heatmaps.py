"""Heat maps indexed by class: per-class F1 (absolute, and the difference with cross-entropy) and
confusion matrices, all in one class order (most to fewest training images) and with the class
names. Figure sizes follow the numbers of losses and classes, so labels never overlap and a colour
bar is never shorter than its label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lossbench.report.figures import plt, save, sns
from lossbench.report.load import BASELINE
from lossbench.report.tables import fmt_signed

CELL_W = 0.55
"""Inches a class column of the per-class heat map takes (room for an annotation like +0.12)."""
CELL_H = 0.36
"""Inches a loss row takes."""
MIN_PANEL_H = 1.5
"""The least height of a panel: its colour bar (and the bar's label) needs it."""
CHAR_W = 0.068
"""Inches one character of a tick label takes at the font size used (for the margins)."""
ANNOTATE_UP_TO = 12
"""Classes up to which the cells carry their values."""


def class_labels(wide: pd.DataFrame) -> list[str]:
    """``name (training images)`` for each class, in the order of ``wide``."""
    return [f"{name} ({count})" for name, count in zip(wide.class_name, wide.train_count)]


def fitted_limits(values: np.ndarray) -> tuple[float, float]:
    """Colour limits fitted to the data: its minimum and maximum (±0.05 around a constant)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low - 0.05, high + 0.05) if high - low < 1e-9 else (low, high)


def symmetric_limits(values: np.ndarray) -> tuple[float, float]:
    """Limits centred on 0: ±(the largest absolute value), at least ±0.01."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    largest = float(np.abs(finite).max()) if finite.size else 0.0
    largest = max(largest, 0.01)
    return -largest, largest


def _longest(labels) -> int:
    return max((len(str(label)) for label in labels), default=1)


def per_class_heatmap_figure(wide: pd.DataFrame, losses: list[str], title: str) -> plt.Figure:
    """Loss × class mean F1 with a colour scale fitted to the data; below it, when cross-entropy
    is among the losses, each other loss's F1 minus cross-entropy's, on a diverging scale centred
    on 0 with limits symmetric about it (from the data)."""
    labels = class_labels(wide)
    absolute = wide[losses].T
    absolute.columns = labels
    others = [loss for loss in losses if loss != BASELINE] if BASELINE in losses else []
    delta = wide[others].sub(wide[BASELINE], axis=0).T if others else None
    if delta is not None:
        delta.columns = labels
    panels = [absolute] + ([delta] if delta is not None else [])
    heights = [max(MIN_PANEL_H, CELL_H * len(panel) + 0.7) for panel in panels]
    left = CHAR_W * _longest(losses) + 0.7
    bottom = CHAR_W * _longest(labels) + 0.7
    width = max(7.0, CELL_W * len(labels) + left + 1.5)
    figure, axes = plt.subplots(len(panels), 1, squeeze=False, layout="constrained",
                                figsize=(width, sum(heights) + bottom + 0.5),
                                gridspec_kw={"height_ratios": heights})
    annotate = len(labels) <= ANNOTATE_UP_TO
    low, high = fitted_limits(absolute.to_numpy(dtype=float))
    top = axes[0][0]
    sns.heatmap(absolute, annot=annotate, fmt=".2f", vmin=low, vmax=high, cmap="viridis",
                cbar_kws={"label": "F1"}, ax=top, annot_kws={"fontsize": 7},
                xticklabels=delta is None)
    top.set_title(f"test F1, mean over replicates (colour scale fitted: {low:.2f} to {high:.2f})")
    top.set_ylabel("loss")
    if delta is not None:
        axis = axes[1][0]
        low, high = symmetric_limits(delta.to_numpy(dtype=float))
        text = (np.vectorize(lambda v: fmt_signed(v, 2))(delta.to_numpy(dtype=float))
                if annotate else False)  # a zero difference reads +0.00, never -0.00
        sns.heatmap(delta, annot=text, fmt="", vmin=low, vmax=high,  # 0 mid-scale
                    cmap="RdBu", cbar_kws={"label": "Δ F1"}, ax=axis, annot_kws={"fontsize": 7})
        axis.set_title(f"F1 minus cross-entropy's (blue: better, red: worse; scale ±{high:.2f})")
        axis.set_ylabel("loss")
    last = axes[-1][0]
    last.set_xlabel("class (training images), most to fewest")
    last.tick_params(axis="x", labelrotation=90)
    for row in axes:
        row[0].tick_params(axis="y", labelrotation=0)
    figure.suptitle(title)
    return figure


def per_class_heatmap(wide: pd.DataFrame, losses: list[str], title: str, path: Path) -> Path:
    """``per_class_heatmap_figure`` written as PNG."""
    return save(per_class_heatmap_figure(wide, losses, title), path)


def _cell_text(values: np.ndarray, many: bool) -> np.ndarray:
    """Annotations: two decimals (blank for 0); with many classes only shares of at least 0.05,
    as .57."""
    if not many:
        return np.vectorize(lambda v: f"{v:.2f}" if v >= 0.005 else "")(values)
    return np.vectorize(lambda v: f"{v:.2f}".removeprefix("0") if v >= 0.05 else "")(values)


def confusion_figure(matrices: dict[str, np.ndarray], class_names: list[str],
                     order: list[int], title: str) -> plt.Figure:
    """Row-normalised confusion matrices (counts summed over replicates), one panel per loss,
    rows and columns in ``order`` (the heat map's class order) and labelled with class names.
    Up to 12 classes the panels sit side by side, beyond that one below the other."""
    labels = [str(class_names[i]) if i < len(class_names) else str(i) for i in order]
    count, size = len(matrices), len(order)
    stacked = size > 12
    side = (0.38 if stacked else 0.40) * size + 0.4
    margin = CHAR_W * _longest(labels) + 0.8
    columns, rows = (1, count) if stacked else (count, 1)
    height = rows * (side + 0.5) + margin + 0.8 if stacked else side + margin + 1.1
    figure, axes = plt.subplots(rows, columns, squeeze=False, layout="constrained",
                                figsize=(columns * (side + margin) + 1.2, height))
    mesh = None
    for index, (axis, (loss, matrix)) in enumerate(zip(axes.flat, matrices.items())):
        bottom = not stacked or index == count - 1  # stacked panels share the class columns
        matrix = np.asarray(matrix, dtype=float)[np.ix_(order, order)]
        totals = matrix.sum(axis=1, keepdims=True)
        normalised = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        sns.heatmap(normalised, vmin=0, vmax=1, cmap="Blues", square=True, cbar=False,
                    annot=_cell_text(normalised, stacked) if size <= ANNOTATE_UP_TO else False,
                    fmt="", annot_kws={"fontsize": 6 if stacked else 7},
                    xticklabels=labels if bottom else False, yticklabels=labels, ax=axis)
        mesh = axis.collections[0]
        axis.set_title(f"{loss} ({int(matrix.sum())} test predictions)")
        axis.set_xlabel("predicted class" if bottom else "")
        axis.set_ylabel("true class")
        axis.tick_params(axis="x", labelrotation=90)
        axis.tick_params(axis="y", labelrotation=0)
    if mesh is not None:
        figure.colorbar(mesh, ax=axes.ravel().tolist(), shrink=0.6 if stacked else 0.9,
                        label="share of the true class's test images")
    figure.suptitle(f"{title}: row-normalised (each row sums to 1), counts summed over "
                    "replicates\nclasses from most to fewest training images")
    return figure


def confusion_matrices(matrices: dict[str, np.ndarray], class_names: list[str],
                       order: list[int], title: str, path: Path) -> Path:
    """``confusion_figure`` written as PNG."""
    return save(confusion_figure(matrices, class_names, order, title), path)
