"""The report's sections: verdict, protocol, one section per dataset, environment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lossbench.evaluation.stats import ROPE
from lossbench.report import figures, heatmaps
from lossbench.report.document import Document
from lossbench.report.load import BASELINE, Results
from lossbench.report.slices import slice_grid
from lossbench.report.tables import (
    class_differences,
    fmt_interval,
    fmt_p,
    params_table,
    per_class_f1_wide,
    per_class_table,
    protocol_table,
)
from lossbench.report.verdict import (
    across_datasets,
    caveats,
    dataset_verdict,
    recommended,
    verdict_record,
)
from lossbench.store import safe_name

GROUP_COLUMNS = (("many_f1", "many F1"), ("medium_f1", "medium F1"), ("few_f1", "few F1"))


def write_csv(results: Results, name: str, frame: pd.DataFrame) -> str:
    """Write ``frame`` to ``tables/<name>.csv``; returns the path relative to the results."""
    path = results.store.table_csv(name)
    results.store.write_csv(path, frame)
    return results.store.relative(path)


def formatted_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary table for reading: mean ± half-interval, Δ against CE with raw and Holm p and
    the decision; baselines marked."""
    out = pd.DataFrame({"loss": [f"{r.loss} (baseline)" if r.baseline else r.loss
                                 for r in summary.itertuples()]})
    out["val macro-F1"] = [f"{v:.3f}" for v in summary.val_macro_f1]
    out["macro-F1"] = [fmt_interval(r.macro_f1, r.macro_f1_low, r.macro_f1_high)
                       for r in summary.itertuples()]
    out["Δ vs CE"] = [fmt_interval(r.delta_vs_ce, r.delta_low, r.delta_high, signed=True)
                      for r in summary.itertuples()]
    out["p"] = [fmt_p(p) for p in summary.p_value]
    out["p (Holm)"] = [fmt_p(p) for p in summary.p_holm]
    out["vs CE"] = summary.decision.fillna("")
    for metric, label in (("balanced_accuracy", "bal. acc."), ("worst_class_f1", "worst-class F1"),
                          *GROUP_COLUMNS, ("ece", "ECE")):
        out[label] = [fmt_interval(getattr(r, metric), getattr(r, f"{metric}_low"),
                                   getattr(r, f"{metric}_high")) for r in summary.itertuples()]
    if summary.oracle_gap.notna().any():
        out["gap to oracle"] = [f"{g:.3f}" for g in summary.oracle_gap]
    out["replicates"] = summary.replicates
    return out


def verdict_section(doc: Document, results: Results, summaries: dict[str, pd.DataFrame]) -> None:
    """Per dataset the verdict; the across-datasets table; ``verdict.json`` for scripts."""
    doc.heading("Verdict")
    for name in results.dataset_names:
        doc.paragraph(f"**{name}**: {dataset_verdict(results, name, summaries[name])}", "verdict")
    rope = float(results.suite.get("rope", ROPE))
    doc.paragraph(caveats(rope))
    if len(results.dataset_names) > 1:
        table = across_datasets(results, summaries)
        doc.paragraph("Across the datasets: each loss's decisions against cross-entropy and its "
                      "mean rank by test macro-F1 (1 = best).")
        doc.table(table.round(2), write_csv(results, "across_datasets", table))
    results.store.write_json(results.store.verdict_json, {
        name: verdict_record(results, name, summaries[name]) for name in results.dataset_names})


def dataset_section(doc: Document, results: Results, name: str, summary: pd.DataFrame) -> None:
    """Tables and figures of one dataset."""
    doc.heading(name, level=3)
    _summary_part(doc, results, name, summary)
    _per_class_part(doc, results, name, summary)
    _tuning_part(doc, results, name)


def _figure(results: Results, name: str, kind: str) -> Path:
    return results.store.figure_png(f"{safe_name(name)}_{kind}")


def _summary_part(doc: Document, results: Results, name: str, summary: pd.DataFrame) -> None:
    rule = next((r["test"]["group_rule"] for r in results.runs
                 if r["dataset"] == name and r.get("test")), "")
    failed = {loss: record["failed"] for (dataset, loss), chosen in results.chosen.items()
              if dataset == name for record in chosen.values() if "failed" in record}
    if failed:
        doc.paragraph("Tuning failed in some replicate, so these losses miss its final runs: "
                      + "; ".join(f"**{loss}**: {why}" for loss, why in failed.items()))
    doc.paragraph(f"Test metrics, mean ± 95 % CI half-width over replicates (clipped to [0, 1]); "
                  f"val macro-F1 is what the choice reads. Many/medium/few groups: {rule}. ECE "
                  f"with 15 confidence bins, from each loss's own probabilities. Δ vs CE is "
                  f"paired by replicate; p (Holm) is adjusted across this table's comparisons.")
    doc.table(formatted_summary(summary), write_csv(results, f"{safe_name(name)}_summary", summary))
    oracle = (summary.macro_f1 + summary.oracle_gap).dropna()
    doc.figure(figures.macro_f1_intervals(summary, f"{name}: test macro-F1",
                                          _figure(results, name, "macro_f1"),
                                          float(oracle.iloc[0]) if len(oracle) else None),
               f"{name}: test macro-F1 per loss, mean (dot) and 95 % interval (line) over "
               "replicates; dashed: cross-entropy's mean"
               + ("; dotted: the Bayes oracle" if len(oracle) else "")
               + "; baselines as open diamonds")


def _per_class_part(doc: Document, results: Results, name: str, summary: pd.DataFrame) -> None:
    stem, losses = safe_name(name), results.losses(name)
    per_class = per_class_table(results, name)
    write_csv(results, f"{stem}_per_class", per_class)
    wide = per_class_f1_wide(per_class, losses)
    shown = wide.drop(columns="class_index").rename(columns={"class_name": "class",
                                                             "train_count": "train images"})
    doc.paragraph("Per-class test F1 (mean over replicates; precision, recall and intervals are "
                  "in the CSV), classes from most to fewest training images:")
    doc.table(shown.round(3), write_csv(results, f"{stem}_per_class_f1", wide))
    doc.figure(heatmaps.per_class_heatmap(wide, losses, f"{name}: per-class F1",
                                          _figure(results, name, "per_class_f1")),
               f"{name}: per-class F1, loss × class, classes from most to fewest training "
               "images; colour scale fitted to the data"
               + ("; below, each loss minus cross-entropy (scale centred on 0)"
                  if BASELINE in losses and len(losses) > 1 else ""))
    best = recommended(summary)
    highlight = [loss for loss in dict.fromkeys((BASELINE, best)) if loss in losses]
    doc.figure(figures.f1_against_count(per_class, highlight, f"{name}: F1 against class size",
                                        _figure(results, name, "f1_vs_count")),
               f"{name}: per-class F1 against training images ({', '.join(highlight)} in colour)")
    if best and best != BASELINE and BASELINE in losses:
        write_csv(results, f"{stem}_class_delta_{safe_name(best)}_vs_ce",
                  class_differences(results, name, best))
    names = dict(zip(per_class.class_index, per_class.class_name))
    names = [str(c) for c in results.datasets.get(name, {}).get("class_names", [])] or \
        [str(names.get(i, i)) for i in range(max(names, default=-1) + 1)]
    matrices = {loss: np.sum([r["test"]["confusion"] for r in results.records(name, loss)], axis=0)
                for loss in highlight}
    doc.figure(heatmaps.confusion_matrices(matrices, names, [int(i) for i in wide.class_index],
                                           f"{name}: confusion matrices",
                                           _figure(results, name, "confusion")),
               f"{name}: confusion matrices of {' and '.join(highlight)}, row-normalised (each "
               "true class's row sums to 1), counts summed over replicates, classes in the "
               "heat map's order")
    doc.figure(_calibration(results, name, highlight, summary, _figure(results, name, "calib")),
               f"{name}: calibration")


def _tuning_part(doc: Document, results: Results, name: str) -> None:
    losses = results.losses(name)
    doc.paragraph("Tuning: per loss, the chosen parameters (median over the replicates' studies; "
                  "each replicate tunes afresh with the same budget), the mean validation "
                  "macro-F1 of the chosen trials, how the trials ended, and every choice within "
                  "2 % of a bound of its range (the best may lie outside it):")
    params = params_table(results, name)
    doc.table(params.assign(val_macro_f1=params.val_macro_f1.astype(float).round(4)),
              write_csv(results, f"{safe_name(name)}_params", params))
    first = {loss: results.trials[(name, loss)] for loss in losses if (name, loss) in results.trials}
    first = {loss: frame[frame.replicate == frame.replicate.min()].drop(columns="replicate")
             for loss, frame in first.items()}
    chosen = {loss: min(results.chosen.get((name, loss), {}).items(), default=(0, {}))[1]
              for loss in losses}
    shared = {key: {"kind": "float", "low": value[0], "high": value[1], "log": True}
              for key, value in results.suite.get("optim", {}).items()
              if key in ("lr", "weight_decay") and isinstance(value, list) and len(value) == 2}
    doc.figure(slice_grid(first, {loss: record.get("trial") for loss, record in chosen.items()},
                          f"{name}: validation macro-F1 of every trial (first replicate) "
                          "against each parameter", _figure(results, name, "slices"),
                          spaces={loss: {**shared, **(record.get("search_space") or {})}
                                  for loss, record in chosen.items()}),
               f"{name}: Optuna slice plots of the first replicate (one row per loss; x marks "
               "pruned trials, the circle the chosen trial; shaded between dashed lines: the "
               "searched range)")


def _calibration(results: Results, name: str, losses: list[str], summary: pd.DataFrame, path):
    bins = {}
    for loss in losses:
        records = results.records(name, loss)
        bins[loss] = {key: np.sum([r["test"]["calibration"][key] for r in records], axis=0)
                      for key in ("count", "confidence", "correct")}
    ece = summary.set_index("loss").ece
    return figures.calibration(bins, ece, f"{name}: calibration", path)


def protocol_section(doc: Document, results: Results) -> None:
    suite = results.suite
    budget, model, optim = suite.get("budget", {}), suite.get("model", {}), suite.get("optim", {})
    replicates = sorted({r.get("replicate", 0) for r in results.runs})
    doc.heading("Protocol")
    doc.table(protocol_table(results).round(2),
              write_csv(results, "protocol", protocol_table(results)))
    doc.bullets([
        (f"Replicates: {len(replicates)} (suite seed {suite.get('seed', 0)}). Replicate r "
         "re-draws the test split where the source has no official one, the validation split "
         "and the resampled train pool (which rows each class keeps), the tuning seed and the "
         "final training seeds; all losses of a replicate share its data, so comparisons are "
         "paired. Nothing but the final evaluation reads the test split, and the recommended "
         "loss is chosen on validation."),
        ("Tuning: one Optuna study per (replicate, dataset, loss), each tuned afresh, with the "
         "same number of finished trials "
         "for every loss, cross-entropy included (column trials above); seeded TPE sampler "
         f"({budget.get('startup_trials')} random start-up trials), median pruner on validation "
         "macro-F1 after the warm-up epochs; a trial whose loss turns NaN or inf is pruned."),
        (f"Search space: every loss tunes lr in {optim.get('lr')} and weight decay in "
         f"{optim.get('weight_decay')} (log scale) plus its own parameters (see each dataset's "
         "tuning table)."),
        ("Training: epochs and batch size per dataset in the table above; "
         f"{optim.get('optimizer')} (momentum {optim.get('momentum')}), {optim.get('schedule')} "
         f"schedule with {optim.get('warmup_epochs')} warm-up epoch(s); feature model "
         f"{model.get('features')} (hidden {model.get('hidden')}), image model "
         f"{model.get('images')}, augmentation {model.get('augment')}. Model selection: the "
         f"{budget.get('select')} epoch by validation macro-F1."),
        (f"Final runs: each replicate's chosen parameters retrained with {budget.get('seeds')} "
         "seed(s) of its own (a replicate's value is their mean). Baselines: ce+posthoc (the "
         "cross-entropy model with logits shifted by −τ·log π, τ in 0, 0.1, …, 2 chosen on "
         "validation; Menon et al. 2021) and ce+balanced_sampling (cross-entropy on "
         "class-balanced batches, tuned like every loss). Metrics with scikit-learn, per class with every "
         "class listed (labels=range(C)) and zero_division=0."),
    ])


def environment_section(doc: Document, results: Results, report_seconds: float) -> None:
    env = results.environment
    versions = env.get("versions", {})
    trial_seconds = sum(float(f.seconds.fillna(0).sum()) for f in results.trials.values()
                        if "seconds" in f)
    run_seconds = sum(float(r.get("train_seconds") or 0) for r in results.runs)
    invocations = env.get("invocations", [])
    doc.heading("Environment")
    doc.bullets([
        (f"Wall time of the last `lossbench run`, data to stored results: "
         f"{env.get('wall_seconds', 'n/a')} s ({len(invocations)} invocation(s), "
         f"{sum(i['wall_seconds'] for i in invocations):.1f} s in all), plus "
         f"{report_seconds:.1f} s for this report (Python start-up not counted). Training time "
         f"in trials {trial_seconds:.1f} s, in final runs {run_seconds:.1f} s."),
        f"Device: {env.get('device', 'n/a')}; platform {env.get('platform', 'n/a')}.",
        f"Commit: `{env.get('git_commit', 'n/a')}`; study storage: `{env.get('storage', 'n/a')}`.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
    ])
