"""The verdict that opens the report: per dataset, which loss to use and how sure that is."""

from __future__ import annotations

import numpy as np
import pandas as pd
from lossbench.report.load import Results
from lossbench.report.tables import BASELINE, class_differences, fmt_interval, fmt_p

MOVE = 0.02
"""A class "gains" or "loses" when its mean F1 moves by at least this much against CE."""
LISTED = 4


def _classes(frame: pd.DataFrame) -> str:
    return ", ".join(f"{r.class_name} ({r.train_count} train, {r.delta_f1:+.2f})"
                     for r in frame.itertuples())


def class_movement(results: Results, dataset: str, loss: str) -> str:
    """Which classes gain and which lose F1 with ``loss`` against cross-entropy."""
    diffs = class_differences(results, dataset, loss)
    if diffs.empty:
        return ""
    gains = diffs[diffs.delta_f1 >= MOVE].sort_values("delta_f1", ascending=False).head(LISTED)
    losses = diffs[diffs.delta_f1 <= -MOVE].sort_values("delta_f1").head(LISTED)
    if gains.empty and losses.empty:
        return f"No class's F1 moves by {MOVE} or more against cross-entropy."
    parts = []
    if not gains.empty:
        parts.append(f"Gains: {_classes(gains)}.")
    if not losses.empty:
        parts.append(f"Loses: {_classes(losses)}.")
    return " ".join(parts)


def dataset_verdict(results: Results, dataset: str, summary: pd.DataFrame) -> str:
    """A short paragraph: the loss to use, its gain over CE with interval, the classes it moves."""
    if summary.empty:
        return "No finished runs."
    if BASELINE not in set(summary.loss):
        best = summary.sort_values("macro_f1", ascending=False).iloc[0]
        return (f"Highest test macro-F1: **{best.loss}** "
                f"({fmt_interval(best.macro_f1, best.macro_f1_low, best.macro_f1_high)}); "
                "cross-entropy was not in this suite, so there is no baseline comparison.")
    ce = summary[summary.loss == BASELINE].iloc[0]
    others = summary[(summary.loss != BASELINE) & summary.delta_vs_ce.notna()]
    ce_text = f"cross-entropy {fmt_interval(ce.macro_f1, ce.macro_f1_low, ce.macro_f1_high)}"
    if others.empty:
        return f"Only cross-entropy ran: macro-F1 {ce_text}."
    best = others.sort_values("delta_vs_ce", ascending=False).iloc[0]
    delta = fmt_interval(best.delta_vs_ce, best.delta_low, best.delta_high, signed=True)
    seeds = int(best.seeds)
    sure = np.isfinite(best.delta_low) and best.delta_low > 0
    if sure:
        text = (f"**Use {best.loss}.** Test macro-F1 "
                f"{fmt_interval(best.macro_f1, best.macro_f1_low, best.macro_f1_high)} against "
                f"{ce_text}: a gain of {delta} (95 % CI over {seeds} paired seeds, "
                f"paired t-test p = {fmt_p(best.p_value)}).")
    elif best.delta_vs_ce > 0:
        text = (f"**No loss beats cross-entropy beyond the noise.** The best, {best.loss}, gains "
                f"{delta} macro-F1 over {ce_text} (95 % CI over {seeds} paired seeds includes 0, "
                f"p = {fmt_p(best.p_value)}); cross-entropy is as good a choice.")
    else:
        text = (f"**No loss beats cross-entropy.** Cross-entropy has the highest mean test "
                f"macro-F1 ({ce_text}); the closest, {best.loss}, differs by {delta}.")
    also = others[(others.delta_low > 0) & (others.loss != best.loss)]
    if sure and len(also):
        text += (" Also better than cross-entropy beyond the noise: "
                 + ", ".join(f"{r.loss} ({r.delta_vs_ce:+.3f})" for r in also.itertuples()) + ".")
    worse = others[others.delta_high < 0]
    if len(worse):
        text += (" Worse than cross-entropy beyond the noise: "
                 + ", ".join(f"{r.loss} ({r.delta_vs_ce:+.3f})" for r in worse.itertuples()) + ".")
    movement = class_movement(results, dataset, best.loss)
    if movement:
        text += f" {best.loss} against cross-entropy, per class: {movement}"
    oracle = summary.oracle_gap.notna()
    if oracle.any():
        row = summary[summary.loss == best.loss].iloc[0]
        text += (f" The Bayes oracle's macro-F1 is {row.macro_f1 + row.oracle_gap:.3f}: "
                 f"{best.loss} is {row.oracle_gap:.3f} below it, cross-entropy "
                 f"{ce.oracle_gap:.3f}.")
    return text


def caveats(losses: int) -> str:
    """How to read the intervals."""
    return (f"Intervals are 95 % t-intervals over seeds, one comparison at a time; with {losses} "
            "losses compared against cross-entropy, one of them may clear the bar by chance "
            "(no multiple-comparison correction is applied). Seeds change initialisation and "
            "data order; the data split is the same for every run.")
