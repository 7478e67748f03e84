"""CIFAR-10-LT against the papers: lossbench's test error beside the published top-1 error.

Added to a report only when a dataset of the suite is CIFAR-10 (its ten class names) under an
``exp`` or ``step`` profile. The published numbers are those of ``shared/data/README.md``
(ResNet-32, 200 epochs, balanced 10,000-image test set). The section says what differs: JPEG
re-encoding, model selection on validation (the widely used reference code picks the best epoch on
the test set), the budget, and the training counts.
"""

from __future__ import annotations

import math

import pandas as pd
from lossbench.report.document import Document
from lossbench.report.load import Results

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")
CAO = "Cao et al. 2019"
ZHANG = "Zhang et al. 2021"

PUBLISHED: dict[str, dict[str, dict[float, tuple[str, float]]]] = {
    # loss -> source -> imbalance ratio -> (the paper's name of the method, top-1 error %)
    "ce": {CAO: {100: ("CE", 29.64), 10: ("CE", 13.61)}, ZHANG: {100: ("CE", 28.05)}},
    "focal": {ZHANG: {100: ("focal", 28.44)}},
    "label_smoothing": {ZHANG: {100: ("CE + label smoothing 0.1", 27.19)}},
    "ldam": {CAO: {100: ("LDAM-DRW", 22.97), 10: ("LDAM-DRW", 11.84)},
             ZHANG: {100: ("LDAM", 26.34)}},
    "class_balanced": {CAO: {100: ("CB focal (best)", 25.43), 10: ("CB focal (best)", 12.51)},
                       ZHANG: {100: ("CB focal", 24.80)}},
    "balanced_softmax": {ZHANG: {100: ("balanced softmax", 22.46)}},
}


def cifar10_lt_datasets(results: Results) -> list[str]:
    """Datasets of ``results`` that are CIFAR-10 under a long-tail profile (exp or step)."""
    names = []
    for name in results.dataset_names:
        info = results.datasets.get(name, {})
        spec = info.get("spec", {})
        if tuple(info.get("class_names", ())) == CIFAR10_CLASSES and \
                spec.get("profile") in ("exp", "step"):
            names.append(name)
    return names


def _published(loss: str, source: str, profile: str, ratio: float) -> str:
    if profile != "exp":
        return ""
    entry = PUBLISHED.get(loss, {}).get(source, {}).get(ratio)
    return f"{entry[1]:.2f} ({entry[0]})" if entry else ""


def comparison_table(results: Results, dataset: str, summary: pd.DataFrame) -> pd.DataFrame:
    """One row per loss: lossbench's test error % (mean ± 95 % CI half-width) and the papers'."""
    spec = results.datasets[dataset].get("spec", {})
    profile, ratio = spec.get("profile"), float(spec.get("imbalance_ratio", math.nan))
    rows = []
    for row in summary.itertuples():
        error = 100 * (1 - row.accuracy)
        half = 100 * (row.accuracy_high - row.accuracy_low) / 2
        text = f"{error:.2f}" + (f" ± {half:.2f}" if math.isfinite(half) else "")
        rows.append({"loss": row.loss, "lossbench top-1 error %": text, "replicates": row.replicates,
                     **{f"published: {source}": _published(row.loss, source, profile, ratio)
                        for source in (CAO, ZHANG)}})
    return pd.DataFrame(rows)


def throughput(results: Results, dataset: str) -> tuple[float, float, int]:
    """Training images per second over every trial and final run of ``dataset`` (each epoch's
    validation pass included), the training seconds, and the number of runs."""
    train_images = sum(results.datasets[dataset].get("counts", {}).get("train", []))
    images, seconds, runs = 0.0, 0.0, 0
    for record in results.runs:
        if record["dataset"] == dataset and record.get("train_seconds"):
            images += train_images * len(record.get("history", []))
            seconds += float(record["train_seconds"])
            runs += 1
    for (name, _), trials in results.trials.items():
        if name == dataset and {"seconds", "epochs_run"} <= set(trials.columns):
            done = trials.dropna(subset=["seconds"])
            images += train_images * float(done.epochs_run.sum())
            seconds += float(done.seconds.sum())
            runs += len(done)
    return (images / seconds if seconds else math.nan), seconds, runs


def recipe_details(results: Results) -> str:
    """How this suite's optimiser and model differ from the reference code's."""
    model, optim = results.suite.get("model", {}), results.suite.get("optim", {})
    momentum = ("plain momentum, as the reference" if optim.get("nesterov") is False
                else "Nesterov momentum (the reference: plain momentum)")
    head = ("LDAM trains with a cosine-normalised last layer, as in the reference"
            if "ldam" in model.get("cosine_head", []) else
            "LDAM trains with a plain linear last layer (the reference: a cosine-normalised one)")
    return (f"Recipe details: SGD with {momentum}, without weight decay on biases and batch-norm "
            f"weights (the reference decays every parameter); {head}; focal and class-balanced "
            "focal are softmax-based (the CB paper's focal is sigmoid-based); on a GPU the "
            "forward pass runs in bf16 (losses in float32).")


def literature_section(doc: Document, results: Results, summaries: dict[str, pd.DataFrame]) -> None:
    """The comparison with the published CIFAR-10-LT numbers; nothing for other datasets."""
    names = [n for n in cifar10_lt_datasets(results) if not summaries[n].empty]
    if not names:
        return
    doc.heading("CIFAR-10-LT against the published numbers")
    doc.paragraph(
        "Top-1 error on CIFAR-10's balanced 10,000-image test set (100 − accuracy; on a balanced "
        "test set it equals 100 − balanced accuracy), lossbench's mean ± 95 % CI half-width over "
        "replicates beside the papers' single numbers (ResNet-32, 200 epochs). Published numbers exist "
        "for the exponential profile at imbalance ratios 100 and 10 only: Cao et al. 2019 "
        "(LDAM-DRW, Table 2, with Cui et al. 2019's class-balanced focal) and Zhang et al. 2021 "
        "(Bag of Tricks, one recipe for all losses). Read the ranking of the losses, not the "
        "absolute errors, because of the differences listed below.")
    for name in names:
        info = results.datasets[name]
        budget = info.get("budget", {})
        train = info.get("counts", {}).get("train", [])
        rate, seconds, runs = throughput(results, name)
        doc.heading(name, level=3)
        doc.paragraph(
            f"Budget of this run: model `{info.get('model')}`, {budget.get('epochs')} epochs, "
            f"batch {budget.get('batch_size')}, {budget.get('trials')} trials and "
            f"{budget.get('replicates', 1)} replicate(s) of {budget.get('seeds')} final run(s) per loss; {sum(train):,} training images "
            f"({max(train, default=0):,} down to {min(train, default=0):,} a class). Training "
            f"throughput: {rate:,.0f} images/s over {runs} trainings ({seconds:,.0f} s, each "
            f"epoch's validation pass included).")
        doc.table(comparison_table(results, name, summaries[name]))
    doc.paragraph("What differs from the published setting:")
    doc.bullets([
        ("Data: CIFAR-10 re-encoded as JPEG by a public mirror when read from cifar10-jpg.tar.gz; "
        "the lossy re-encoding can put absolute accuracies a little below those on the original "
        "pixels (the `cifar10-lt-torchvision` suite reads the original batches)."),
        ("Model selection: lossbench keeps the epoch with the best validation macro-F1 and tunes on "
        "validation only. The widely used reference code (LDAM-DRW's) reports the best epoch on "
        "the test set, which makes the published errors optimistic."),
        ("Training counts: validation (a fixed number of images per class) is carved from the "
        "training images the profile leaves unused, so at full size the largest class keeps "
        "5,000 − that number (the papers train on 5,000 down to 50 and validate on nothing)."),
        recipe_details(results),
        ("Budget: see each dataset above; a reduced budget (fewer epochs, a smaller model, fewer "
        "images) gives higher errors than the papers' 200-epoch ResNet-32."),
    ])
