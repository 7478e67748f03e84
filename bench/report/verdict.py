"""The verdict that opens the report: per dataset, which loss to use and how sure that is.

The choice reads validation only: the recommended loss is the loss of the registry with the best
mean validation macro-F1 over replicates (the test split decides nothing). Its test score is then
compared with cross-entropy's (paired over replicates, Holm across the dataset's comparisons,
decided with the region of practical equivalence), the losses that cannot be told from it are
named, and so is its standing against the two baselines.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from lossbench.evaluation.stats import MIN_REPLICATES, ROPE, compare_to_baseline, tied_with
from lossbench.report.cautions import cautions
from lossbench.report.load import BASELINE, Results
from lossbench.report.tables import (
    class_differences,
    fmt_estimate,
    fmt_interval,
    fmt_p,
    fmt_signed,
    replicate_values,
)

LISTED = 4


def recommended(summary: pd.DataFrame) -> str | None:
    """The loss of the registry (not a baseline) with the best mean validation macro-F1."""
    losses = summary[~summary.baseline.astype(bool) & summary.val_macro_f1.notna()]
    if losses.empty:
        return None
    return str(losses.sort_values(["val_macro_f1", "loss"], ascending=[False, True]).loss.iloc[0])


def tied_set(results: Results, dataset: str, best: str) -> list[str]:
    """The losses and baselines whose test macro-F1 cannot be told from ``best``'s (paired over
    replicates, Holm across the comparisons with ``best``)."""
    values = replicate_values(results, dataset)
    return tied_with(values, best, min_replicates=MIN_REPLICATES) if best in values else []


def class_movement(results: Results, dataset: str, loss: str) -> str:
    """Classes whose F1 interval over replicates against cross-entropy excludes 0."""
    diffs = class_differences(results, dataset, loss)
    if diffs.empty:
        return ""
    sure = diffs[(diffs.delta_low > 0) | (diffs.delta_high < 0)]
    if sure.empty:
        return "no class's F1 interval against cross-entropy excludes 0."

    def listed(frame: pd.DataFrame) -> str:
        return ", ".join(f"{r.class_name} ({r.train_count} train, {fmt_signed(r.delta_f1, 2)} "
                         f"[{fmt_signed(r.delta_low, 2)}, {fmt_signed(r.delta_high, 2)}])"
                         for r in frame.itertuples())

    gains = sure[sure.delta_f1 > 0].sort_values("delta_f1", ascending=False).head(LISTED)
    losses = sure[sure.delta_f1 < 0].sort_values("delta_f1").head(LISTED)
    parts = ([f"gains {listed(gains)}"] if len(gains) else []) + \
        ([f"loses {listed(losses)}"] if len(losses) else [])
    return "; ".join(parts) + "."


def _row(summary: pd.DataFrame, loss: str) -> pd.Series:
    return summary[summary.loss == loss].iloc[0]


def _score(row: pd.Series) -> str:
    return fmt_interval(row.macro_f1, row.macro_f1_low, row.macro_f1_high)


def _difference(row: pd.Series) -> str:
    low, high = row.delta_low, row.delta_high
    bounds = (f" [{fmt_signed(low)}, {fmt_signed(high)}]" if np.isfinite(low) and np.isfinite(high)
              else "")
    return f"{fmt_estimate(row.delta_vs_ce)}{bounds} ({_p('p', row.p_value)}, {_p('Holm', row.p_holm)})"


def _p(label: str, value: float) -> str:
    text = fmt_p(value)
    return f"{label} {text}" if text.startswith("<") else f"{label} = {text}"


def _headline(best: str, row: pd.Series, ce: pd.Series, rope: float) -> str:
    """The first sentence: what to use, from the decision of ``best`` against cross-entropy."""
    if best == BASELINE:
        return ("**Use cross-entropy.** It has the best validation macro-F1 of the losses "
                f"({ce.val_macro_f1:.3f}); test macro-F1 {_score(ce)}.")
    chosen = (f"chosen on validation ({row.val_macro_f1:.3f} against cross-entropy's "
              f"{ce.val_macro_f1:.3f}); test macro-F1 {_score(row)} against cross-entropy "
              f"{_score(ce)}, a difference of {_difference(row)}")
    decision = row.decision
    if decision == "better":
        return f"**Use {best}.** It is {chosen}: better beyond the noise."
    if decision == "equivalent":
        return (f"**{best} and cross-entropy are equivalent** (the difference lies within "
                f"±{rope:g}, two one-sided tests): cross-entropy, the simpler, is as good. "
                f"{best} was {chosen}.")
    if decision == "worse":
        return (f"**Validation prefers {best}, but on test it is worse than cross-entropy**: "
                f"use cross-entropy. {best} was {chosen}.")
    return (f"**Undecided — run more replicates.** The best on validation is {best}, {chosen}: "
            f"{row.reason}.")


def dataset_verdict(results: Results, dataset: str, summary: pd.DataFrame) -> str:
    """A short paragraph: the loss to use, how sure, the tied set, the baselines, the classes."""
    if summary.empty:
        return "No finished runs."
    best = recommended(summary)
    if best is None:
        return "No loss has a validation score."
    if BASELINE not in set(summary.loss):
        return (f"Best validation macro-F1: **{best}** (test {_score(_row(summary, best))}); "
                "cross-entropy was not in this suite, so there is no baseline comparison.")
    rope = float(results.suite.get("rope", ROPE))
    ce, row = _row(summary, BASELINE), _row(summary, best)
    text = _headline(best, row, ce, rope)
    tied = tied_set(results, dataset, best)
    if int(summary.replicates.max()) < MIN_REPLICATES:
        text += (f" With fewer than {MIN_REPLICATES} replicates no loss can be told from "
                 f"{best}.")
    else:
        text += (f" Tied with {best} (not told apart on test): {', '.join(tied)}." if tied
                 else f" No other loss or baseline is tied with {best}.")
    others = summary[(summary.loss != BASELINE) & (summary.loss != best)
                     & ~summary.baseline.astype(bool)]
    for category in ("better", "equivalent", "worse"):
        names = others[others.decision == category]
        if len(names):
            text += (f" {category.capitalize()} than cross-entropy: " if category != "equivalent"
                     else " Equivalent to cross-entropy: ") + ", ".join(
                f"{r.loss} ({fmt_estimate(r.delta_vs_ce)})" for r in names.itertuples()) + "."
    text += _against_baselines(results, dataset, summary, best)
    if best != BASELINE:
        movement = class_movement(results, dataset, best)
        if movement:
            text += f" Per class, {best} against cross-entropy: {movement}"
    if summary.oracle_gap.notna().any() and np.isfinite(row.oracle_gap):
        text += (f" The Bayes oracle's macro-F1 is {row.macro_f1 + row.oracle_gap:.3f}: "
                 f"{best} is {row.oracle_gap:.3f} below it, cross-entropy {ce.oracle_gap:.3f}.")
    found = cautions(results, dataset, summary)
    if found:
        text += " Caution: " + "; ".join(found) + "."
    return text


def _against_baselines(results: Results, dataset: str, summary: pd.DataFrame,
                       best: str) -> str:
    """Whether the recommended loss beats each baseline (paired, ROPE, over replicates)."""
    values = replicate_values(results, dataset)
    rope = float(results.suite.get("rope", ROPE))
    parts = []
    for baseline in summary[summary.baseline.astype(bool)].loss:
        if baseline not in values or best not in values:
            continue
        comparison = compare_to_baseline({baseline: values[baseline], best: values[best]},
                                         baseline, rope=rope)[0]
        parts.append(f"{comparison.decision} than {baseline} ({fmt_estimate(comparison.mean)})"
                     if comparison.decision in ("better", "worse")
                     else f"{comparison.decision} {'to' if comparison.decision == 'equivalent' else 'against'} "
                     f"{baseline} ({fmt_estimate(comparison.mean)})")
    return f" {best}: {'; '.join(parts)}." if parts else ""


def verdict_record(results: Results, dataset: str, summary: pd.DataFrame) -> dict:
    """The verdict of one dataset for scripts (``verdict.json``)."""
    best = recommended(summary) if len(summary) else None
    has_ce = BASELINE in set(summary.loss) if len(summary) else False

    def number(value) -> float | None:
        return float(value) if value is not None and np.isfinite(value) else None

    losses = {r.loss: {"baseline": bool(r.baseline), "category": r.decision or None,
                       "test_macro_f1": number(r.macro_f1), "val_macro_f1": number(r.val_macro_f1),
                       "delta_vs_ce": number(r.delta_vs_ce),
                       "interval": [number(r.delta_low), number(r.delta_high)],
                       "p": number(r.p_value), "p_holm": number(r.p_holm),
                       "replicates": int(r.replicates)}
              for r in summary.itertuples()}
    return {"recommended": best, "chosen_on": "validation macro-F1 (mean over replicates)",
            "tied_with_recommended": tied_set(results, dataset, best) if best else [],
            "recommended_vs_ce": losses.get(best, {}).get("category") if has_ce else None,
            "rope": float(results.suite.get("rope", ROPE)),
            "cautions": cautions(results, dataset, summary) if len(summary) else [],
            "losses": losses}


def across_datasets(results: Results, summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per loss over the suite's datasets: better / equivalent / worse / undecided against CE
    and the mean rank by test macro-F1 (1 = best)."""
    rows: dict[str, dict] = {}
    for summary in summaries.values():
        if summary.empty:
            continue
        ranks = summary.macro_f1.rank(ascending=False, method="average")
        for r, rank in zip(summary.itertuples(), ranks):
            row = rows.setdefault(r.loss, {"loss": r.loss, "better": 0, "equivalent": 0,
                                           "worse": 0, "undecided": 0, "ranks": []})
            if r.decision in ("better", "equivalent", "worse", "undecided"):
                row[r.decision] += 1
            row["ranks"].append(rank)
    table = pd.DataFrame([{**{k: v for k, v in row.items() if k != "ranks"},
                           "mean rank": float(np.mean(row["ranks"])) if row["ranks"] else math.nan,
                           "datasets": len(row["ranks"])} for row in rows.values()])
    return table.sort_values("mean rank").reset_index(drop=True) if len(table) else table


def caveats(rope: float) -> str:
    """How to read the verdicts."""
    return (f"How to read this: the recommended loss is chosen on validation; the test split "
            f"only scores it. Intervals are 95 % t-intervals over replicates (each replicate "
            f"re-draws the train pool, the validation split, the tuning and training seeds), "
            f"clipped to the metric's range; p-values are paired t-tests over replicates, Holm-"
            f"adjusted across each dataset's comparisons with cross-entropy. A difference inside "
            f"±{rope:g} macro-F1 by two one-sided tests is 'equivalent'; a Holm p below 0.05 "
            f"outside it is 'better' or 'worse'; anything else, or fewer than {MIN_REPLICATES} "
            "replicates, or no spread, is 'undecided'.")
