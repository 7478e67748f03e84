"""Sweeps: datasets of a suite that share a source (same ``source`` and source options) and differ
in exactly one profile setting, ``scarce_fraction`` or ``imbalance_ratio``.

For each sweep the report shows, against the setting, each loss's Δ macro-F1 against
cross-entropy with its interval, the F1 of the scarce group, and the gap to the oracle where the
datasets have one, plus whether the recommended loss changes along the sweep.

* A ``natural`` dataset joins a ``scarce_fraction`` sweep at fraction 1: the scarce profile with
  fraction 1 keeps every row, which is the natural profile (the same ``n_max`` cap).
* The scarce group of a ``scarce_fraction`` sweep is the classes the scarce profile thins: the
  ``scarce_classes`` named in the spec or, for an attribute group (``scarce_attribute``, e.g. age
  >= 60), the classes whose training counts change along the sweep.
* The scarce group of an ``imbalance_ratio`` sweep is the tail: the fifth of the classes with the
  fewest training images (at least one), taken per replicate (a shuffled class order moves it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lossbench.evaluation.stats import mean_interval
from lossbench.report.document import Document
from lossbench.report.figures import BASELINE_COLOUR, plt, save, sns
from lossbench.report.load import BASELINE, Results
from lossbench.report.tables import fmt_interval, per_class_replicates
from lossbench.report.verdict import recommended

SETTINGS = {"scarce_fraction": "scarce fraction", "imbalance_ratio": "imbalance ratio"}
RANKED = ("exp", "step", "pareto")
SELECTION = ("scarce_classes", "scarce_attribute", "scarce_value")
TAIL_SHARE = 0.2
PREPOSITION = {"better": "than", "worse": "than", "equivalent": "to"}


@dataclass
class Sweep:
    """Datasets (ascending by the setting's value) that differ only in ``setting``."""

    setting: str
    datasets: list[str]
    values: list[float]


def _spec(results: Results, dataset: str) -> dict:
    return results.datasets.get(dataset, {}).get("spec") or {}


def _value(spec: dict, setting: str) -> float:
    if setting == "scarce_fraction" and spec.get("profile") == "natural":
        return 1.0
    return float(spec.get(setting))


def _key(spec: dict, setting: str) -> str | None:
    """What must be equal for two datasets to lie on one sweep of ``setting`` (None: this
    dataset's profile has no such setting)."""
    profile = spec.get("profile", "natural")
    if setting == "scarce_fraction" and profile in ("scarce", "natural"):
        drop = {"imbalance_ratio", "pareto_shape", "class_order", "profile", *SELECTION}
    elif setting == "imbalance_ratio" and profile in RANKED:
        drop = {*SELECTION, "scarce_fraction"} | ({"pareto_shape"} if profile != "pareto" else set())
    else:
        return None
    kept = {k: v for k, v in spec.items() if k not in drop | {"name", setting}}
    return json.dumps(kept, sort_keys=True, default=str)


def find_sweeps(results: Results) -> list[Sweep]:
    """Every sweep of the suite: at least two distinct values of one setting, all else equal
    (for a scarce fraction: the same scarce classes or attribute group)."""
    sweeps = []
    for setting in SETTINGS:
        groups: dict[str, list[str]] = {}
        for name in results.dataset_names:
            key = _key(_spec(results, name), setting)
            if key is not None:
                groups.setdefault(key, []).append(name)
        for names in groups.values():
            members = [names]
            if setting == "scarce_fraction":
                natural = [n for n in names if _spec(results, n).get("profile") == "natural"]
                chosen: dict[str, list[str]] = {}
                for n in names:
                    if _spec(results, n).get("profile") == "scarce":
                        picked = json.dumps([_spec(results, n).get(k) for k in SELECTION],
                                            default=str)
                        chosen.setdefault(picked, []).append(n)
                members = [natural + scarce for scarce in chosen.values()]
            for group in members:
                first: dict[float, str] = {}
                for n in group:  # one dataset per value (the first in the suite's order)
                    first.setdefault(_value(_spec(results, n), setting), n)
                if len(first) >= 2:
                    values = sorted(first)
                    sweeps.append(Sweep(setting, [first[v] for v in values], values))
    return sweeps


def scarce_classes(results: Results, sweep: Sweep) -> tuple[list[int] | None, str]:
    """The scarce group's class indices (None: the tail, chosen per replicate) and a phrase
    that names it."""
    if sweep.setting == "imbalance_ratio":
        return None, (f"the tail: the {TAIL_SHARE:.0%} of the classes with the fewest training "
                      "images (at least one class), per replicate")
    names = [str(c) for c in results.datasets[sweep.datasets[0]].get("class_names", [])]
    spec = next(_spec(results, d) for d in sweep.datasets
                if _spec(results, d).get("profile") == "scarce")
    picked: list[int] = []
    if spec.get("scarce_attribute") is None:
        for item in spec.get("scarce_classes") or []:
            if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(names):
                picked.append(item)
            elif str(item) in names:
                picked.append(names.index(str(item)))
        how = "the scarce_classes of the spec"
    if not picked:
        counts = [results.datasets[d].get("counts", {}).get("train", []) for d in sweep.datasets]
        picked = [c for c in range(len(names))
                  if len({tuple(row[c:c + 1]) for row in counts}) > 1]
        how = ("the classes whose training counts change along the sweep" if
               spec.get("scarce_attribute") is None else
               f"{spec.get('scarce_attribute')} = {spec.get('scarce_value')}: the classes whose "
               "training counts change along the sweep")
    picked = sorted(set(picked))
    return picked, f"classes {', '.join(names[c] for c in picked)} ({how})"


def _group_f1(results: Results, dataset: str, classes: list[int] | None) -> pd.DataFrame:
    """Per (loss, replicate): the mean F1 of the scarce group's classes."""
    frame = per_class_replicates(results, dataset)
    if classes is not None:
        rows = frame[frame.class_index.isin(classes)]
    else:
        count = max(1, math.ceil(TAIL_SHARE * frame.class_index.nunique()))
        rows = frame.sort_values(["train_count", "class_index"]).groupby(
            ["loss", "replicate"]).head(count)
    return rows.groupby(["loss", "replicate"], as_index=False).f1.mean()


def sweep_frame(results: Results, sweep: Sweep, summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (point of the sweep, loss): Δ macro-F1 against CE with its interval, the
    scarce group's F1 and the gap to the oracle (oracle − macro-F1) with theirs, whether the loss
    is the point's recommended one."""
    classes, _ = scarce_classes(results, sweep)
    rows = []
    for dataset, value in zip(sweep.datasets, sweep.values):
        summary = summaries[dataset]
        best = recommended(summary) if len(summary) else None
        group = _group_f1(results, dataset, classes)
        replicates = results.replicate_frame(dataset)
        for r in summary.itertuples():
            f1 = mean_interval(group[group.loss == r.loss].f1, bounds=(0.0, 1.0))
            runs = replicates[replicates.loss == r.loss]
            gap = mean_interval((runs.oracle_macro_f1 - runs.macro_f1).dropna(), bounds=(-1.0, 1.0))
            rows.append({sweep.setting: value, "dataset": dataset, "loss": r.loss,
                         "baseline": bool(r.baseline), "recommended": r.loss == best,
                         "decision": r.decision, "delta_vs_ce": r.delta_vs_ce,
                         "delta_low": r.delta_low, "delta_high": r.delta_high,
                         "scarce_f1": f1.mean, "scarce_f1_low": f1.low, "scarce_f1_high": f1.high,
                         "oracle_gap": gap.mean, "oracle_gap_low": gap.low,
                         "oracle_gap_high": gap.high})
    return pd.DataFrame(rows)


def _panels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    panels = [("delta_vs_ce", "Δ macro-F1 against cross-entropy"),
              ("scarce_f1", "F1 of the scarce group")]
    if frame.oracle_gap.notna().any():
        panels.append(("oracle_gap", "gap to the Bayes oracle (oracle − macro-F1)"))
    return panels


def sweep_figure(frame: pd.DataFrame, sweep: Sweep, title: str) -> plt.Figure:
    """One panel per quantity against the setting; one line per loss (mean, 95 % interval as
    error bars), baselines dashed, cross-entropy black (in the Δ panel: the zero line)."""
    panels, values = _panels(frame), np.asarray(sweep.values, dtype=float)
    log = values.min() > 0 and values.max() / values.min() >= 3
    where = np.log(values) if log else values
    step = float(np.min(np.diff(where))) if len(where) > 1 else 1.0
    losses = list(dict.fromkeys(frame.loss))
    plain = [loss for loss in losses if loss != BASELINE and not _is_baseline(frame, loss)]
    colours = dict(zip(plain, sns.color_palette("tab10" if len(plain) <= 10 else "husl",
                                                len(plain))))
    extra = [loss for loss in losses if _is_baseline(frame, loss)]
    colours.update(zip(extra, [BASELINE_COLOUR, "#8172b3", "#937860", "#da8bc3"]))
    colours[BASELINE] = "black"
    figure, axes = plt.subplots(1, len(panels), squeeze=False, layout="constrained",
                                figsize=(4.3 * len(panels) + 0.6, 4.9))
    for axis, (column, label) in zip(axes[0], panels):
        for index, loss in enumerate(losses):
            rows = frame[frame.loss == loss].sort_values(sweep.setting)
            if column == "delta_vs_ce" and loss == BASELINE:
                axis.axhline(0.0, color="black", linewidth=1.6, label=loss)
                continue
            offset = (index - (len(losses) - 1) / 2) * 0.3 * step / max(1, len(losses) - 1)
            x = rows[sweep.setting].to_numpy(float)
            x = x * np.exp(offset) if log else x + offset
            mean = rows[column].to_numpy(float)
            low = rows[f"{column}_low" if column != "delta_vs_ce" else "delta_low"].to_numpy(float)
            high = rows[f"{column}_high" if column != "delta_vs_ce" else "delta_high"].to_numpy(float)
            error = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
            axis.errorbar(x, mean, yerr=error, color=colours[loss], marker="o", markersize=4,
                          linewidth=2.0 if loss == BASELINE else 1.3, capsize=2, elinewidth=0.8,
                          linestyle="--" if _is_baseline(frame, loss) else "-", label=loss)
        if log:
            axis.set_xscale("log")
            axis.minorticks_off()
        axis.set_xticks(values, [f"{v:g}" for v in values])
        axis.set_xlabel(SETTINGS[sweep.setting])
        axis.set_title(label, fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, [f"{name} (baseline)" if _is_baseline(frame, name) else name
                            for name in labels], loc="outside lower center", fontsize=8,
                  ncol=min(len(labels), 6 if len(panels) > 2 else 4), frameon=False)
    figure.suptitle(title)
    return figure


def _is_baseline(frame: pd.DataFrame, loss: str) -> bool:
    return bool(frame[frame.loss == loss].baseline.any())


def _recommendation(frame: pd.DataFrame, sweep: Sweep) -> str:
    """A sentence: does the recommended loss (best validation macro-F1) change along the sweep?"""
    chosen = frame[frame.recommended].sort_values(sweep.setting)
    points = [f"{SETTINGS[sweep.setting]} {getattr(r, sweep.setting):g}: {r.loss}"
              + (f" ({r.decision} {PREPOSITION.get(r.decision, 'against')} cross-entropy)"
                 if r.decision else "") for r in chosen.itertuples()]
    names = list(dict.fromkeys(chosen.loss))
    if not names:
        return "No point of the sweep has a recommended loss."
    if len(names) == 1:
        return (f"The recommended loss does not change along the sweep: **{names[0]}** at every "
                f"{SETTINGS[sweep.setting]} ({'; '.join(points)}).")
    return f"The recommended loss changes along the sweep: {'; '.join(points)}."


def _table(frame: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    out = pd.DataFrame({"loss": [f"{loss} (baseline)" if _is_baseline(frame, loss) else loss
                                 for loss in dict.fromkeys(frame.loss)]})
    for value in sweep.values:
        rows = frame[frame[sweep.setting] == value].set_index("loss")
        order = list(dict.fromkeys(frame.loss))
        rows = rows.reindex(order)
        out[f"Δ vs CE @ {value:g}"] = [
            "reference" if r.Index == BASELINE else
            fmt_interval(r.delta_vs_ce, r.delta_low, r.delta_high, signed=True)
            for r in rows.itertuples()]
        out[f"scarce F1 @ {value:g}"] = [fmt_interval(r.scarce_f1, r.scarce_f1_low,
                                                      r.scarce_f1_high) for r in rows.itertuples()]
    return out


def sweep_section(doc: Document, results: Results, summaries: dict[str, pd.DataFrame]) -> None:
    """One section per sweep of the suite (nothing when the suite has none)."""
    for sweep in find_sweeps(results):
        label = SETTINGS[sweep.setting]
        frame = sweep_frame(results, sweep, summaries)
        _, group = scarce_classes(results, sweep)
        source = _spec(results, sweep.datasets[0]).get("source")
        natural = [d for d in sweep.datasets if _spec(results, d).get("profile") == "natural"]
        doc.heading(f"Sweep over the {label}: {sweep.datasets[0]} to {sweep.datasets[-1]}")
        doc.paragraph(
            f"{len(sweep.datasets)} datasets share the source `{source}` with the same options and "
            f"differ only in the {label}: "
            + ", ".join(f"{d} ({v:g})" for d, v in zip(sweep.datasets, sweep.values)) + ". "
            + (f"{', '.join(natural)} (natural profile) stands at fraction 1: the scarce profile "
               "with fraction 1 keeps every row. " if natural else "")
            + f"The scarce group is {group}; its F1 is the mean of its classes' F1 in a "
            "replicate, then mean and 95 % interval over replicates. Δ vs CE is paired by "
            "replicate as in each dataset's summary.")
        doc.paragraph(_recommendation(frame, sweep), "verdict")
        stem = f"sweep_{sweep.setting}_{sweep.datasets[0]}"
        path = results.store.table_csv(stem)
        results.store.write_csv(path, frame)
        doc.table(_table(frame, sweep), results.store.relative(path))
        doc.figure(save(sweep_figure(frame, sweep, f"{label} sweep ({source})"),
                        results.store.figure_png(stem)),
                   f"Along the {label}: Δ macro-F1 against cross-entropy, the scarce group's F1"
                   + (" and the gap to the oracle" if len(_panels(frame)) > 2 else "")
                   + "; one line per loss (mean, 95 % interval over replicates), baselines "
                   "dashed, cross-entropy black")
