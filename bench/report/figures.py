"""The report's figures, drawn with seaborn on matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from lossbench.report.load import BASELINE
from lossbench.store import atomic_write_bytes

DPI = 96
CE_COLOUR, BASELINE_COLOUR = "#c44e52", "#dd8452"
sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)


def save(figure: plt.Figure, path: Path) -> Path:
    """Write ``figure`` as PNG atomically and close it."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def macro_f1_intervals_figure(summary: pd.DataFrame, title: str,
                              oracle: float | None = None) -> plt.Figure:
    """Dot and interval per loss: the dot is the mean test macro-F1 over replicates, the line its
    95 % interval; cross-entropy's mean and the oracle as vertical reference lines; baselines
    (ce+posthoc, ce+balanced_sampling) drawn as open diamonds and named so on their axis label.
    The axis is fitted to the data: no bar whose length would mislead once the axis is cut."""
    table = summary.sort_values("macro_f1", ascending=True).reset_index(drop=True)
    baseline = table.baseline.astype(bool).to_numpy() if "baseline" in table else \
        np.zeros(len(table), bool)
    labels = [f"{loss} (baseline)" if base else loss for loss, base in zip(table.loss, baseline)]
    mean = table.macro_f1.to_numpy(float)
    low = table.macro_f1_low.fillna(table.macro_f1).to_numpy(float)
    high = table.macro_f1_high.fillna(table.macro_f1).to_numpy(float)
    figure, axis = plt.subplots(layout="constrained", figsize=(8.2, 0.34 * len(table) + 1.7))
    y = np.arange(len(table))
    kinds = (("loss", ~baseline & (table.loss != BASELINE).to_numpy(), "o", "#4c72b0", "#4c72b0"),
             ("cross-entropy", (table.loss == BASELINE).to_numpy(), "o", CE_COLOUR, CE_COLOUR),
             ("baseline", baseline, "D", BASELINE_COLOUR, "white"))
    for label, keep, marker, colour, face in kinds:
        if keep.any():
            axis.errorbar(mean[keep], y[keep], xerr=[mean[keep] - low[keep], high[keep] - mean[keep]],
                          fmt=marker, color=colour, markerfacecolor=face, markersize=6,
                          elinewidth=1.6, capsize=3, label=label, zorder=3)
    if BASELINE in set(table.loss):
        axis.axvline(float(table[table.loss == BASELINE].macro_f1.iloc[0]), color=CE_COLOUR,
                     linestyle="--", linewidth=1, label="cross-entropy mean")
    has_oracle = oracle is not None and np.isfinite(oracle)
    if has_oracle:
        axis.axvline(oracle, color="black", linestyle=":", linewidth=1.2, label="Bayes oracle")
    span_low = float(np.nanmin(low))
    span_high = max(float(np.nanmax(high)), oracle if has_oracle else -np.inf)
    pad = max(0.01, 0.08 * (span_high - span_low))
    axis.set_xlim(span_low - pad, span_high + pad)
    axis.set_yticks(y, labels)
    for tick, base in zip(axis.get_yticklabels(), baseline):
        tick.set_color(BASELINE_COLOUR if base else "black")
    axis.set_ylim(-0.7, len(table) - 0.3)
    axis.set_xlabel("test macro-F1: dot = mean, line = 95 % interval over replicates "
                    "(axis fitted to the data)")
    axis.set_title(title)
    figure.legend(loc="outside right upper", fontsize=7)
    return figure


def macro_f1_intervals(summary: pd.DataFrame, title: str, path: Path,
                       oracle: float | None = None) -> Path:
    """``macro_f1_intervals_figure`` written as PNG."""
    return save(macro_f1_intervals_figure(summary, title, oracle), path)


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
