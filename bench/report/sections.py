"""The report's sections: verdict, protocol, one section per dataset, environment."""

from __future__ import annotations

import numpy as np
import pandas as pd
from lossbench.report import figures
from lossbench.report.document import Document
from lossbench.report.load import Results
from lossbench.report.slices import slice_grid
from lossbench.report.tables import (
    BASELINE,
    class_differences,
    fmt_interval,
    fmt_p,
    params_table,
    per_class_f1_wide,
    per_class_table,
    protocol_table,
)
from lossbench.report.verdict import caveats, dataset_verdict
from lossbench.store import atomic_write_csv, safe_name

GROUP_COLUMNS = (("many_f1", "many F1"), ("medium_f1", "medium F1"), ("few_f1", "few F1"))


def write_csv(results: Results, name: str, frame: pd.DataFrame) -> str:
    """Write ``frame`` to ``tables/<name>.csv``; returns the path relative to the results."""
    relative = f"tables/{name}.csv"
    atomic_write_csv(results.root / relative, frame)
    return relative


def formatted_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary table for reading: mean ± half-interval, Δ and p against CE."""
    out = pd.DataFrame({"loss": summary.loss})
    out["macro-F1"] = [fmt_interval(r.macro_f1, r.macro_f1_low, r.macro_f1_high)
                       for r in summary.itertuples()]
    out["Δ vs CE"] = [fmt_interval(r.delta_vs_ce, r.delta_low, r.delta_high, signed=True)
                      for r in summary.itertuples()]
    out["p"] = [fmt_p(p) for p in summary.p_value]
    for metric, label in (("balanced_accuracy", "bal. acc."), ("accuracy", "accuracy"),
                          ("worst_class_f1", "worst-class F1"), *GROUP_COLUMNS, ("ece", "ECE")):
        out[label] = [fmt_interval(getattr(r, metric), getattr(r, f"{metric}_low"),
                                   getattr(r, f"{metric}_high")) for r in summary.itertuples()]
    if summary.oracle_gap.notna().any():
        out["gap to oracle"] = [f"{g:.3f}" for g in summary.oracle_gap]
    out["val macro-F1"] = [f"{v:.3f}" for v in summary.val_macro_f1]
    out["seeds"] = summary.seeds
    return out


def verdict_section(doc: Document, results: Results, summaries: dict[str, pd.DataFrame]) -> None:
    doc.heading("Verdict")
    for name in results.dataset_names:
        doc.paragraph(f"**{name}**: {dataset_verdict(results, name, summaries[name])}", "verdict")
    doc.paragraph(caveats(max(len(results.losses(n)) - 1 for n in results.dataset_names)))


def dataset_section(doc: Document, results: Results, name: str, summary: pd.DataFrame) -> None:
    """Tables and figures of one dataset."""
    stem, losses = safe_name(name), results.losses(name)
    figure_dir = results.root / "figures"
    info = results.datasets.get(name, {})
    rule = next((r["test"]["group_rule"] for r in results.runs
                 if r["dataset"] == name and r.get("test")), "")
    doc.heading(name, level=3)
    failed = {loss: chosen["failed"] for (dataset, loss), chosen in results.chosen.items()
              if dataset == name and "failed" in chosen}
    if failed:
        doc.paragraph("Tuning failed, so these losses have no final runs: "
                      + "; ".join(f"**{loss}**: {why}" for loss, why in failed.items()))
    doc.paragraph(f"Test metrics, mean ± 95 % CI half-width over seeds. Many/medium/few groups: "
                  f"{rule}. ECE with 15 confidence bins. Δ vs CE is paired by seed.")
    doc.table(formatted_summary(summary), write_csv(results, f"{stem}_summary", summary))
    oracle = (summary.macro_f1 + summary.oracle_gap).dropna()
    doc.figure(figures.macro_f1_bars(summary, f"{name}: test macro-F1",
                                     figure_dir / f"{stem}_macro_f1.png",
                                     float(oracle.iloc[0]) if len(oracle) else None),
               f"{name}: test macro-F1 per loss with 95 % intervals")
    per_class = per_class_table(results, name)
    write_csv(results, f"{stem}_per_class", per_class)
    wide = per_class_f1_wide(per_class, losses)
    shown = wide.drop(columns="class_index").rename(columns={"class_name": "class",
                                                             "train_count": "train images"})
    doc.paragraph("Per-class test F1 (mean over seeds; precision, recall and intervals are in "
                  "the CSV), classes from most to fewest training images:")
    doc.table(shown.round(3), write_csv(results, f"{stem}_per_class_f1", wide))
    doc.figure(figures.per_class_heatmap(wide, losses, f"{name}: per-class F1",
                                         figure_dir / f"{stem}_per_class_f1.png"),
               f"{name}: per-class F1, loss × class, classes ordered by training images")
    ranked = summary[summary.loss != BASELINE].sort_values("macro_f1", ascending=False)
    best = str(ranked.loss.iloc[0]) if len(ranked) else None
    highlight = [loss for loss in (BASELINE, best) if loss in losses]
    doc.figure(figures.f1_against_count(per_class, highlight, f"{name}: F1 against class size",
                                        figure_dir / f"{stem}_f1_vs_count.png"),
               f"{name}: per-class F1 against training images ({', '.join(highlight)} in colour)")
    if best and BASELINE in losses:
        write_csv(results, f"{stem}_class_delta_{safe_name(best)}_vs_ce",
                  class_differences(results, name, best))
    labels = [str(c) for c in info.get("class_names", [])]
    matrices = {loss: np.sum([r["test"]["confusion"] for r in results.records(name, loss)], axis=0)
                for loss in highlight}
    doc.figure(figures.confusion_matrices(matrices, labels, f"{name}: confusion matrices",
                                          figure_dir / f"{stem}_confusion.png"),
               f"{name}: confusion matrices of {' and '.join(highlight)} (summed over seeds)")
    doc.figure(_calibration(results, name, highlight, summary, figure_dir / f"{stem}_calib.png"),
               f"{name}: calibration")
    doc.paragraph("Tuning: the trial each loss's final runs retrain (best validation macro-F1 "
                  "among the budget's trials), and how the trials ended:")
    params = params_table(results, name)
    doc.table(params.assign(val_macro_f1=params.val_macro_f1.astype(float).round(4)),
              write_csv(results, f"{stem}_params", params))
    doc.figure(slice_grid({loss: results.trials[(name, loss)] for loss in losses
                           if (name, loss) in results.trials},
                          {loss: results.chosen.get((name, loss), {}).get("trial")
                           for loss in losses},
                          f"{name}: validation macro-F1 of every trial against each parameter",
                          figure_dir / f"{stem}_slices.png"),
               f"{name}: Optuna slice plots (one row per loss; x marks pruned trials)")


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
    seeds = sorted({r["seed"] for r in results.runs})
    doc.heading("Protocol")
    doc.table(protocol_table(results).round(2),
              write_csv(results, "protocol", protocol_table(results)))
    doc.bullets([
        ("Splits: the test split is set apart first with a fixed seed and is the same for every "
         "loss and run; the validation split comes from the remaining pool; the train split is "
         "resampled to the profile's counts. Nothing but the final evaluation reads the test "
         "split."),
        ("Tuning: one Optuna study per (dataset, loss) with the same number of finished trials "
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
        (f"Final runs: the chosen parameters retrained with seeds {seeds} (column seeds above); "
         f"data seed {budget.get('data_seed')}. Metrics with scikit-learn, per class with every "
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
