"""The report's figures, drawn with seaborn on matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from lossbench.store import atomic_write_bytes

DPI = 96
sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)


def save(figure: plt.Figure, path: Path) -> Path:
    """Write ``figure`` as PNG atomically and close it."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def per_class_heatmap(wide: pd.DataFrame, losses: list[str], title: str, path: Path) -> Path:
    """Loss × class mean F1, classes ordered from most to fewest training images."""
    labels = [f"{name} ({count})" for name, count in zip(wide.class_name, wide.train_count)]
    matrix = wide[losses].T
    matrix.columns = labels
    width = max(6.0, 0.55 * len(labels) + 2.0)
    figure, axis = plt.subplots(layout="constrained", figsize=(width, 0.45 * len(losses) + 1.8))
    sns.heatmap(matrix, annot=len(labels) <= 20, fmt=".2f", vmin=0, vmax=1, cmap="viridis",
                cbar_kws={"label": "test F1 (mean over replicates)"}, ax=axis,
                annot_kws={"fontsize": 7})
    axis.set_xlabel("class (training images), most to fewest")
    axis.set_ylabel("loss")
    axis.set_title(title)
    return save(figure, path)


def macro_f1_bars(summary: pd.DataFrame, title: str, path: Path,
                  oracle: float | None = None) -> Path:
    """Mean test macro-F1 per loss with its 95 % interval; CE (and the oracle) as lines."""
    table = summary.sort_values("macro_f1", ascending=True)
    half = ((table.macro_f1_high - table.macro_f1_low) / 2).fillna(0).to_numpy()
    figure, axis = plt.subplots(layout="constrained", figsize=(6.5, 0.35 * len(table) + 1.4))
    colors = ["#c44e52" if loss == "ce" else "#4c72b0" for loss in table.loss]
    axis.barh(table.loss, table.macro_f1, xerr=half, color=colors, capsize=3, alpha=0.85)
    if "ce" in set(table.loss):
        axis.axvline(float(table[table.loss == "ce"].macro_f1.iloc[0]), color="#c44e52",
                     linestyle="--", linewidth=1, label="cross-entropy")
    if oracle is not None and np.isfinite(oracle):
        axis.axvline(oracle, color="black", linestyle=":", linewidth=1, label="Bayes oracle")
    low = float(np.nanmin(table.macro_f1 - half))
    high = float(np.nanmax(table.macro_f1 + half))
    if oracle is not None and np.isfinite(oracle):
        high = max(high, oracle)
    axis.set_xlim(max(0.0, low - 0.05), min(1.0, high + 0.03))
    axis.set_xlabel("test macro-F1 (mean, 95 % CI over replicates)")
    axis.set_title(title)
    axis.legend(loc="lower right", fontsize=7)
    return save(figure, path)


def f1_against_count(per_class: pd.DataFrame, highlight: list[str], title: str,
                     path: Path) -> Path:
    """Each class's mean F1 against its training count; highlighted losses in colour."""
    figure, axis = plt.subplots(layout="constrained", figsize=(6.5, 4.0))
    for loss, rows in per_class.groupby("loss"):
        rows = rows.sort_values("train_count")
        if loss in highlight:
            continue
        axis.plot(rows.train_count, rows.f1, color="0.75", linewidth=0.8, marker=".",
                  markersize=3, label=None)
    palette = sns.color_palette("deep", len(highlight))
    for color, loss in zip(palette, highlight):
        rows = per_class[per_class.loss == loss].sort_values("train_count")
        axis.plot(rows.train_count, rows.f1, color=color, linewidth=1.8, marker="o",
                  markersize=4, label=loss)
    axis.plot([], [], color="0.75", label="other losses")
    axis.set_xscale("log")
    axis.set_xlabel("training images of the class (log scale)")
    axis.set_ylabel("test F1 (mean over replicates)")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(title)
    axis.legend(fontsize=7)
    return save(figure, path)


def confusion_matrices(matrices: dict[str, np.ndarray], class_labels: list[str], title: str,
                       path: Path) -> Path:
    """Row-normalised confusion matrices (summed over replicates), one panel per loss."""
    count = len(matrices)
    size = max(3.5, 0.3 * len(class_labels) + 1.5)
    if max((len(label) for label in class_labels), default=0) > 4:
        class_labels = [str(i) for i in range(len(class_labels))]  # names are in the tables
    figure, axes = plt.subplots(1, count, figsize=(size * count, size), squeeze=False,
                             layout="constrained")
    for axis, (loss, matrix) in zip(axes[0], matrices.items()):
        rows = matrix.sum(axis=1, keepdims=True)
        normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float),
                               where=rows > 0)
        sns.heatmap(normalised, vmin=0, vmax=1, cmap="Blues", square=True, cbar=False,
                    annot=len(class_labels) <= 10, fmt=".2f", annot_kws={"fontsize": 6},
                    xticklabels=class_labels, yticklabels=class_labels, ax=axis)
        axis.set_title(f"{loss}")
        axis.set_xlabel("predicted")
        axis.set_ylabel("true (rows sum to 1)")
    figure.suptitle(title)
    return save(figure, path)


def calibration(bins: dict[str, dict], ece: pd.Series, title: str, path: Path) -> Path:
    """Reliability diagram (accuracy against confidence) and each loss's ECE."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    left.plot([0, 1], [0, 1], color="black", linestyle=":", linewidth=1, label="perfect")
    for loss, data in bins.items():
        count = np.asarray(data["count"], dtype=float)
        keep = count > 0
        confidence = np.asarray(data["confidence"])[keep] / count[keep]
        accuracy = np.asarray(data["correct"])[keep] / count[keep]
        left.plot(confidence, accuracy, marker="o", markersize=3, label=loss)
    left.set_xlabel("confidence (max probability)")
    left.set_ylabel("accuracy")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.legend(fontsize=7)
    left.set_title("reliability (15 bins, all replicates)")
    ordered = ece.sort_values()
    sns.barplot(x=ordered.to_numpy(), y=ordered.index.to_list(), ax=right, color="#4c72b0")
    right.set_xlabel("expected calibration error (mean over replicates)")
    right.set_title("ECE, lower is better")
    figure.suptitle(title)
    return save(figure, path)
