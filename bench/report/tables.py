"""The report's tables as numeric frames (written as CSV) and their formatted twins (for reading).

Means carry 95 % t-intervals over seeds; comparisons with cross-entropy pair runs by seed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from lossbench.evaluation.stats import mean_interval, paired_comparison
from lossbench.report.load import SUMMARY_METRICS, Results

BASELINE = "ce"


def _seed_values(results: Results, dataset: str, loss: str, metric: str) -> pd.Series:
    frame = results.run_frame()
    rows = frame[(frame.dataset == dataset) & (frame.loss == loss) & (frame.status != "failed")]
    return rows.set_index("seed")[metric].astype(float)


def compare(results: Results, dataset: str, loss: str, metric: str = "macro_f1",
            baseline: str = BASELINE):
    """Paired comparison of ``loss`` with ``baseline`` on ``metric`` over their common seeds."""
    a = _seed_values(results, dataset, loss, metric)
    b = _seed_values(results, dataset, baseline, metric)
    common = sorted(set(a.index) & set(b.index))
    return paired_comparison(a.loc[common].to_numpy(), b.loc[common].to_numpy())


def summary_table(results: Results, dataset: str) -> pd.DataFrame:
    """One row per loss: mean and interval of every test metric, validation score, Δ vs CE."""
    frame = results.run_frame()
    frame = frame[(frame.dataset == dataset) & (frame.status != "failed")]
    has_baseline = BASELINE in set(frame.loss)
    rows = []
    for loss in results.losses(dataset):
        runs = frame[frame.loss == loss]
        row: dict = {"loss": loss, "seeds": len(runs),
                     "diverged_runs": int((runs.status == "diverged").sum())}
        for metric in SUMMARY_METRICS:
            interval = mean_interval(runs[metric])
            row.update({metric: interval.mean, f"{metric}_low": interval.low,
                        f"{metric}_high": interval.high})
        row["val_macro_f1"] = float(runs.val_macro_f1.astype(float).mean())
        oracle = runs.oracle_macro_f1.dropna()
        row["oracle_gap"] = float(oracle.mean()) - row["macro_f1"] if len(oracle) else math.nan
        comparison = compare(results, dataset, loss) if has_baseline and loss != BASELINE \
            else None
        diff = comparison.difference if comparison else None
        row.update({"delta_vs_ce": diff.mean if diff else math.nan,
                    "delta_low": diff.low if diff else math.nan,
                    "delta_high": diff.high if diff else math.nan,
                    "p_value": comparison.p_value if comparison else math.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_table(results: Results, dataset: str) -> pd.DataFrame:
    """Mean and interval over seeds of each class's precision, recall and F1, per loss."""
    frame = results.per_class[results.per_class.dataset == dataset]
    rows = []
    keys = ["loss", "class_index", "class_name", "train_count", "group"]
    for key, group in frame.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        row["support"] = int(group.support.iloc[0])
        for metric in ("precision", "recall", "f1"):
            interval = mean_interval(group[metric])
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
    return wide[["class_index", "class_name", "train_count",
                 *[loss for loss in losses if loss in wide.columns]]].reset_index(drop=True)


def class_differences(results: Results, dataset: str, loss: str,
                      baseline: str = BASELINE) -> pd.DataFrame:
    """Per class: mean paired F1 difference ``loss − baseline`` over seeds, with its interval."""
    frame = results.per_class[results.per_class.dataset == dataset]
    a = frame[frame.loss == loss].set_index(["class_index", "seed"]).f1
    b = frame[frame.loss == baseline].set_index(["class_index", "seed"]).f1
    joined = pd.concat({"a": a, "b": b}, axis=1).dropna()
    names = frame.drop_duplicates("class_index").set_index("class_index")
    rows = []
    for index, pairs in joined.groupby(level=0):
        comparison = paired_comparison(pairs.a.to_numpy(), pairs.b.to_numpy())
        rows.append({"class_index": index, "class_name": names.class_name[index],
                     "train_count": int(names.train_count[index]),
                     "delta_f1": comparison.difference.mean, "delta_low": comparison.difference.low,
                     "delta_high": comparison.difference.high})
    return pd.DataFrame(rows)


def params_table(results: Results, dataset: str) -> pd.DataFrame:
    """Per loss: the chosen trial, its validation score and parameters, and how trials ended."""
    rows = []
    for loss in results.losses(dataset):
        chosen = results.chosen.get((dataset, loss), {})
        trials = results.trials.get((dataset, loss), pd.DataFrame())
        states = trials.state.value_counts() if len(trials) else pd.Series(dtype=int)
        params = ", ".join(f"{k}={_number(v)}" for k, v in chosen.get("params", {}).items())
        rows.append({"loss": loss, "best_trial": chosen.get("trial"),
                     "val_macro_f1": chosen.get("val_macro_f1"),
                     "trials_complete": int(states.get("COMPLETE", 0)),
                     "trials_pruned": int(states.get("PRUNED", 0)),
                     "diverged": int(trials.pruned_reason.astype(str).str.startswith("diverged")
                                     .sum()) if len(trials) else 0,
                     "params": params})
    return pd.DataFrame(rows)


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
                        for k in ("trials", "epochs", "batch_size", "seeds")}})
    return pd.DataFrame(rows)


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fmt_interval(mean: float, low: float, high: float, signed: bool = False) -> str:
    """``0.812 ± 0.013`` (or ``+0.021 ± 0.015``); the half width is omitted when undefined."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    text = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    if low is not None and np.isfinite(low) and np.isfinite(high):
        text += f" ± {(high - low) / 2:.3f}"
    return text


def fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
