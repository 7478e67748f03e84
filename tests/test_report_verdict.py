"""The report's verdict and tables on hand-made stored results (no training)."""

import numpy as np
import pandas as pd
import pytest
from lossbench.report import build_report
from lossbench.report.load import load_results
from lossbench.report.tables import summary_table
from lossbench.report.verdict import dataset_verdict
from lossbench.store import ResultStore

CLASSES, COUNTS = ["big", "mid", "rare"], [300, 60, 8]


def record(loss: str, seed: int, f1: list[float]) -> dict:
    """A stored final run whose test per-class F1 is ``f1``."""
    support = [20, 20, 20]
    return {
        "suite": "fake", "dataset": "toy", "loss": loss, "seed": seed, "fingerprint": "x",
        "model": "mlp", "params": {"lr": 0.1}, "fixed_params": {}, "status": "ok",
        "diverged": None, "best_epoch": 1, "val_macro_f1": float(np.mean(f1)), "history": [],
        "train_seconds": 0.1, "class_names": CLASSES, "train_counts": COUNTS,
        "test": {
            "summary": {"macro_f1": float(np.mean(f1)), "balanced_accuracy": float(np.mean(f1)),
                        "accuracy": float(np.mean(f1)), "worst_class_f1": min(f1),
                        "many_f1": f1[0], "medium_f1": f1[1], "few_f1": f1[2], "ece": 0.05},
            "per_class": {"precision": f1, "recall": f1, "f1": f1, "support": support,
                          "group": ["many", "medium", "few"]},
            "group_rule": "many > 100, medium 20-100, few < 20 training images",
            "confusion": [[18, 1, 1], [2, 16, 2], [3, 3, 14]],
            "calibration": {"count": [0] * 14 + [60], "confidence": [0.0] * 14 + [57.0],
                            "correct": [0.0] * 14 + [48.0]},
            "oracle_macro_f1": None},
    }


def write_results(root, runs: dict[str, list[list[float]]]) -> ResultStore:
    store = ResultStore(root)
    for loss, per_seed in runs.items():
        for seed, f1 in enumerate(per_seed):
            store.save_run(record(loss, 1000 + seed, f1))
    store.write_json("suite.json", {"name": "fake", "datasets": ["toy"], "losses": list(runs),
                                    "budget": {"trials": 2}, "model": {}, "optim": {}})
    store.write_json("datasets/toy.json", {"name": "toy", "kind": "features", "model": "mlp",
                                           "num_classes": 3, "class_names": CLASSES,
                                           "counts": {"train": COUNTS, "val": [5] * 3,
                                                      "test": [20] * 3}, "spec": {}})
    store.write_aggregates()
    return store


def verdict(root) -> str:
    results = load_results(root)
    return dataset_verdict(results, "toy", summary_table(results, "toy"))


def test_a_clear_gain_names_the_loss_and_the_classes(tmp_path):
    write_results(tmp_path, {
        "ce": [[0.90, 0.70, 0.20], [0.91, 0.72, 0.22], [0.89, 0.71, 0.18]],
        "balanced_softmax": [[0.89, 0.74, 0.50], [0.90, 0.75, 0.55], [0.88, 0.73, 0.52]],
        "focal": [[0.90, 0.70, 0.21], [0.91, 0.70, 0.20], [0.90, 0.72, 0.20]]})
    text = verdict(tmp_path)
    assert text.startswith("**Use balanced_softmax.**")
    assert "Gains: rare (8 train, +0.32)" in text and "mid (60 train, +0.03)" in text


def test_noise_says_no_loss_beats_cross_entropy(tmp_path):
    write_results(tmp_path, {
        "ce": [[0.90, 0.70, 0.20], [0.85, 0.75, 0.30], [0.92, 0.65, 0.25]],
        "poly": [[0.91, 0.72, 0.30], [0.84, 0.70, 0.20], [0.90, 0.69, 0.28]]})
    assert verdict(tmp_path).startswith("**No loss beats cross-entropy beyond the noise.**")


def test_cross_entropy_best_and_a_worse_loss(tmp_path):
    write_results(tmp_path, {
        "ce": [[0.90, 0.70, 0.40], [0.91, 0.72, 0.42], [0.89, 0.71, 0.41]],
        "soft_f1": [[0.80, 0.60, 0.30], [0.81, 0.61, 0.31], [0.80, 0.62, 0.30]]})
    text = verdict(tmp_path)
    assert text.startswith("**No loss beats cross-entropy.**")
    assert "Worse than cross-entropy beyond the noise: soft_f1 (-0.101)" in text


def test_report_rebuilds_from_stored_files(tmp_path):
    write_results(tmp_path, {"ce": [[0.9, 0.7, 0.2]] * 2, "focal": [[0.9, 0.7, 0.3]] * 2})
    markdown, html = build_report(tmp_path)
    text = markdown.read_text()
    assert "**toy**" in text and "| rare |" not in text  # class names sit in the class column
    summary = pd.read_csv(tmp_path / "tables" / "toy_summary.csv")
    assert summary.loss.tolist() == ["ce", "focal"]
    assert summary.macro_f1.tolist() == pytest.approx([0.6, 0.6333333])
    wide = pd.read_csv(tmp_path / "tables" / "toy_per_class_f1.csv")
    assert wide.class_name.tolist() == CLASSES and wide.shape == (3, 5)
    assert "data:image/png;base64," in html.read_text()
