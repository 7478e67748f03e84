"""Cautions a verdict carries: what makes a result weaker than its numbers look.

- **Chance level**: a loss (or baseline) whose mean test macro-F1 is below ``CHANCE_FACTOR`` / C
  (C classes; a uniform random guess scores about 1/C) learned next to nothing, and its
  comparisons say little.
- **Small validation**: fewer than ``MIN_VAL_ROWS`` validation rows in some class make the choice
  of parameters and of the recommended loss noisy (one row of 16 moves that class's recall by
  6 points).
- **A loss turned into another**: a tuned value at the point where the loss equals another one
  (focal's γ = 0, label smoothing's ε = 0, logit adjustment's τ = 0 or 1, Poly-1's ε = 0,
  weighted CE's power = 0) means the tuning found no use for what makes the loss itself; the
  median over replicates within ``NEAR`` of that point (a fraction of the searched range) is
  flagged.
"""

from __future__ import annotations

import statistics

import pandas as pd
from lossbench.report.load import Results
from lossbench.report.tables import plural

CHANCE_FACTOR = 1.5
MIN_VAL_ROWS = 20
NEAR = 0.02
NEUTRAL = {
    "focal": [("gamma", 0.0, "cross-entropy")],
    "label_smoothing": [("smoothing", 0.0, "cross-entropy")],
    "logit_adjusted": [("tau", 0.0, "cross-entropy"), ("tau", 1.0, "balanced_softmax")],
    "poly": [("epsilon", 0.0, "cross-entropy")],
    "weighted_ce": [("power", 0.0, "cross-entropy")],
    "class_balanced": [("gamma", 0.0, "class-balanced cross-entropy (no focal term)")],
}


def chance_cautions(results: Results, dataset: str, summary: pd.DataFrame) -> list[str]:
    classes = int(results.datasets.get(dataset, {}).get("num_classes") or 0)
    if classes < 2 or summary.empty:
        return []
    bar = CHANCE_FACTOR / classes
    low = summary[summary.macro_f1 < bar]
    return [f"{r.loss} is at chance level (test macro-F1 {r.macro_f1:.3f}, below "
            f"{CHANCE_FACTOR:g}/{classes} = {bar:.3f}): it learned next to nothing, so its "
            f"comparisons say little" for r in low.itertuples()]


def validation_cautions(results: Results, dataset: str) -> list[str]:
    info = results.datasets.get(dataset, {})
    counts, names = info.get("counts", {}).get("val"), info.get("class_names", [])
    if not counts:
        return []
    fewest = min(counts)
    if fewest >= MIN_VAL_ROWS:
        return []
    small = [name for name, count in zip(names, counts) if count == fewest]
    shown = ", ".join(small[:3]) + (f" and {len(small) - 3} more" if len(small) > 3 else "")
    text = (f"validation holds only {fewest} rows of class {shown} (fewer than {MIN_VAL_ROWS}; "
            f"{sum(counts)} in all): the choices made on it are noisy")
    return [text]


def neutral_cautions(results: Results, dataset: str) -> list[str]:
    found = []
    for loss, points in NEUTRAL.items():
        picks = [c for c in results.chosen.get((dataset, loss), {}).values() if "params" in c]
        for name, point, becomes in points:
            values = [c["params"][name] for c in picks
                      if isinstance(c["params"].get(name), (int, float))]
            spec = next((c.get("search_space", {}).get(name) for c in picks), None) or {}
            low, high = spec.get("low"), spec.get("high")
            if not values or low is None or high is None or not low <= point <= high:
                continue
            median = statistics.median(values)
            if abs(median - point) <= NEAR * (high - low):
                found.append(f"{loss}'s tuned {name} = {median:.3g} (median over "
                             f"{plural(len(values), 'replicate', 'replicates')}, searched in [{low:g}, {high:g}]) makes "
                             f"it nearly {becomes}")
    return found


def cautions(results: Results, dataset: str, summary: pd.DataFrame) -> list[str]:
    """Every caution of one dataset, in the order: chance, validation size, neutral parameters."""
    return (chance_cautions(results, dataset, summary) + validation_cautions(results, dataset)
            + neutral_cautions(results, dataset))
