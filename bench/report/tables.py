"""The report's tables as numeric frames (written as CSV) and their formatted twins (for reading).

The replicate is the unit: means carry 95 % t-intervals over replicates (clipped to the metric's
range), comparisons with cross-entropy pair replicates, with Holm-adjusted p-values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from lossbench.evaluation.stats import (
    ROPE,
    Comparison,
    compare_to_baseline,
    mean_interval,
    paired_comparison,
)
from lossbench.report.load import BASELINE, SUMMARY_METRICS, Results

AT_BOUND = 0.02
"""A chosen value within 2 % of its range (on the log scale where the search is) of a bound is
flagged: the best may lie outside the range."""


def replicate_values(results: Results, dataset: str, metric: str = "macro_f1") -> dict[str, np.ndarray]:
    """Per loss, ``metric`` of every replicate of ``dataset`` (NaN where a replicate has no run),
    aligned by replicate so that losses pair."""
    frame = results.replicate_frame(dataset)
    replicates = sorted(frame.replicate.unique())
    wide = frame.pivot_table(index="replicate", columns="loss", values=metric, dropna=False)
    wide = wide.reindex(replicates)
    return {loss: wide[loss].to_numpy(dtype=float) for loss in results.losses(dataset)
            if loss in wide.columns}


def comparisons(results: Results, dataset: str, rope: float) -> dict[str, Comparison]:
    """Each loss and baseline against cross-entropy on test macro-F1: paired over replicates,
    Holm across the dataset's comparisons, and the ROPE decision."""
    values = replicate_values(results, dataset)
    if BASELINE not in values or len(values) < 2:
        return {}
    return {c.name: c for c in compare_to_baseline(values, BASELINE, rope=rope)}


def summary_table(results: Results, dataset: str) -> pd.DataFrame:
    """One row per loss: mean and interval over replicates of every test metric (inside [0, 1]),
    the mean validation score (what the choice reads), Δ vs CE with raw and Holm p and the
    decision."""
    frame = results.replicate_frame(dataset)
    rope = float(results.suite.get("rope", ROPE))
    compared = comparisons(results, dataset, rope)
    rows = []
    for loss in results.losses(dataset):
        runs = frame[frame.loss == loss]
        row: dict = {"loss": loss, "baseline": results.is_baseline(loss),
                     "replicates": len(runs)}
        for metric in SUMMARY_METRICS:
            interval = mean_interval(runs[metric], bounds=(0.0, 1.0))
            row.update({metric: interval.mean, f"{metric}_low": interval.low,
                        f"{metric}_high": interval.high})
        row["val_macro_f1"] = float(runs.val_macro_f1.mean()) if len(runs) else math.nan
        oracle = runs.oracle_macro_f1.dropna()
        row["oracle_gap"] = float(oracle.mean()) - row["macro_f1"] if len(oracle) else math.nan
        comparison = compared.get(loss)
        row.update({"delta_vs_ce": comparison.mean if comparison else math.nan,
                    "delta_low": comparison.low if comparison else math.nan,
                    "delta_high": comparison.high if comparison else math.nan,
                    "p_value": comparison.p_value if comparison else math.nan,
                    "p_holm": comparison.p_holm if comparison else math.nan,
                    "decision": comparison.decision if comparison else "",
                    "reason": comparison.reason if comparison else ""})
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_replicates(results: Results, dataset: str) -> pd.DataFrame:
    """Per-class metrics of ``dataset``, one row per (loss, class, replicate): the mean over the
    replicate's final seeds."""
    frame = results.per_class[results.per_class.dataset == dataset]
    keys = ["loss", "class_index", "class_name", "train_count", "group", "replicate"]
    return frame.groupby(keys, as_index=False, sort=False)[
        ["precision", "recall", "f1", "support"]].mean()


def per_class_table(results: Results, dataset: str) -> pd.DataFrame:
    """Mean and interval over replicates of each class's precision, recall and F1, per loss."""
    frame = per_class_replicates(results, dataset)
    rows = []
    keys = ["loss", "class_index", "class_name", "train_count", "group"]
    for key, group in frame.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        row["support"] = round(group.support.mean())
        row["replicates"] = len(group)
        for metric in ("precision", "recall", "f1"):
            interval = mean_interval(group[metric], bounds=(0.0, 1.0))
            row.update({metric: interval.mean, f"{metric}_low": interval.low,
                        f"{metric}_high": interval.high})
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["loss", "train_count", "class_index"],
                             ascending=[True, False, True]).reset_index(drop=True)


def per_class_f1_wide(per_class: pd.DataFrame, losses: list[str]) -> pd.DataFrame:
    """Classes (most training images first) × losses, mean F1."""
    wide = per_class.pivot_table(index=["class_index", "class_name", "train_count"],
                                 columns="loss", values="f1")
    wide = wide.reset_index().sort_values(["train_count", "class_index"], ascending=[False, True])
    wide.columns.name = None  # the pivot's "loss" would show as an empty column
    return wide[["class_index", "class_name", "train_count",
                 *[loss for loss in losses if loss in wide.columns]]].reset_index(drop=True)


def class_differences(results: Results, dataset: str, loss: str,
                      baseline: str = BASELINE) -> pd.DataFrame:
    """Per class: mean paired F1 difference ``loss − baseline`` over replicates, with its
    interval (inside [−1, 1])."""
    frame = per_class_replicates(results, dataset)
    a = frame[frame.loss == loss].set_index(["class_index", "replicate"]).f1
    b = frame[frame.loss == baseline].set_index(["class_index", "replicate"]).f1
    joined = pd.concat({"a": a, "b": b}, axis=1).dropna()
    names = frame.drop_duplicates("class_index").set_index("class_index")
    rows = []
    for index, pairs in joined.groupby(level=0):
        comparison = paired_comparison(pairs.a.to_numpy(), pairs.b.to_numpy(), bounds=(-1.0, 1.0))
        rows.append({"class_index": index, "class_name": names.class_name[index],
                     "train_count": int(names.train_count[index]),
                     "delta_f1": comparison.difference.mean, "delta_low": comparison.difference.low,
                     "delta_high": comparison.difference.high})
    return pd.DataFrame(rows)


def near_bound(value, spec: dict) -> str | None:
    """"low" or "high" when ``value`` lies within ``AT_BOUND`` of that end of its searched range
    (measured on the log scale for a log-scale search), else None."""
    if not isinstance(value, (int, float)) or spec.get("kind") not in ("float", "int"):
        return None
    low, high = spec.get("low"), spec.get("high")
    if low is None or high is None or high <= low:
        return None
    if spec.get("log") and low > 0 and value > 0:
        low, high, value = math.log(low), math.log(high), math.log(value)
    position = (value - low) / (high - low)
    return "low" if position <= AT_BOUND else "high" if position >= 1 - AT_BOUND else None


def params_table(results: Results, dataset: str) -> pd.DataFrame:
    """Per loss: the median over replicates of each chosen parameter, the mean validation score
    of the chosen trials, how the trials ended, and every choice at a bound of its range."""
    rows = []
    for loss in results.losses(dataset):
        chosen = results.chosen.get((dataset, loss), {})
        trials = results.trials.get((dataset, loss), pd.DataFrame())
        states = trials.state.value_counts() if len(trials) else pd.Series(dtype=int)
        picks = [c for c in chosen.values() if "params" in c]
        names = list(dict.fromkeys(k for c in picks for k in c["params"]))
        params = ", ".join(f"{k}={_number(_median([c['params'].get(k) for c in picks]))}"
                           for k in names)
        flags = []
        for name in names:
            ends = [near_bound(c["params"].get(name), c.get("search_space", {}).get(name, {}))
                    for c in picks]
            for end in ("low", "high"):
                if ends.count(end):
                    flags.append(f"{name} at its {end} bound in {ends.count(end)}/{len(picks)}")
        values = [c.get("val_macro_f1") for c in picks if c.get("val_macro_f1") is not None]
        rows.append({"loss": loss, "studies": len(chosen),
                     "val_macro_f1": float(np.mean(values)) if values else math.nan,
                     "trials_complete": int(states.get("COMPLETE", 0)),
                     "trials_pruned": int(states.get("PRUNED", 0)),
                     "diverged": int(trials.pruned_reason.astype(str).str.startswith("diverged")
                                     .sum()) if len(trials) else 0,
                     "params (median over replicates)": params,
                     "at a bound": "; ".join(flags)})
    return pd.DataFrame(rows)


def _median(values: list):
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values) and numbers:
        return float(np.median(numbers))
    return pd.Series([str(v) for v in values]).mode().iloc[0] if values else ""


def protocol_table(results: Results) -> pd.DataFrame:
    """Per dataset: data kind, model, classes and the size of every split."""
    rows = []
    for name in results.dataset_names:
        info = results.datasets[name]
        counts = info.get("counts", {})
        train = counts.get("train", [])
        rows.append({"dataset": name, "source": info.get("spec", {}).get("source"),
                     "profile": info.get("spec", {}).get("profile"), "kind": info.get("kind"),
                     "model": info.get("model"), "classes": info.get("num_classes"),
                     "train": sum(train), "val": sum(counts.get("val", [])),
                     "test": sum(counts.get("test", [])),
                     "largest_class": max(train, default=0), "smallest_class": min(train, default=0),
                     "imbalance": (max(train) / max(1, min(train))) if train else math.nan,
                     **{k: info.get("budget", {}).get(k)
                        for k in ("replicates", "trials", "epochs", "batch_size", "seeds")}})
    return pd.DataFrame(rows)


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


ZERO = 1e-9
"""Below this a difference is zero (float noise of equal scores): ``+0.000``, never ``-0.000``."""


def fmt_signed(value: float, digits: int = 3) -> str:
    """``+0.021``, ``-0.004``; a zero difference (within ``ZERO``, e.g. ce+posthoc with τ = 0
    against cross-entropy) reads ``+0.000``, never ``-0.000``. A small nonzero value keeps its
    sign (``-0.00`` for -0.004 at two digits: below zero, as the interval says)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{0.0 if abs(value) < ZERO else float(value):+.{digits}f}"


def fmt_estimate(value: float, digits: int = 3) -> str:
    """A signed point estimate (a mean difference): ``+0.021``, ``-0.004``; one that rounds to
    zero at ``digits`` reads ``0.000``, without a sign (a rounded -0.0003 is no "-0.000"). Interval
    bounds keep ``fmt_signed``'s sign, which says on which side of zero a bound lies."""
    text = fmt_signed(value, digits)
    return text[1:] if text[1:] == f"{0:.{digits}f}" else text


def plural(n: int, one: str, many: str) -> str:
    """``1 loss``, ``12 losses``."""
    return f"{n} {one if n == 1 else many}"


def fmt_interval(mean: float, low: float, high: float, signed: bool = False) -> str:
    """``0.812 ± 0.013`` (or ``+0.021 ± 0.015``, ``0.000 ± 0.002`` for a difference that rounds to
    zero); the half width is omitted when undefined."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    text = fmt_estimate(mean) if signed else f"{mean:.3f}"
    if low is not None and np.isfinite(low) and np.isfinite(high):
        text += f" ± {(high - low) / 2:.3f}"
    return text


def fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
