"""The report's verdict and tables on hand-made stored results (no training).

Each loss gets a list of replicates; a replicate gives per-class test F1 and, separately, the
validation macro-F1 the choice reads, so a test can make the test-best loss differ from the
validation-best one.
"""

import json

import numpy as np
import pytest
from lossbench.report import build_report
from lossbench.report.load import load_results
from lossbench.report.tables import summary_table
from lossbench.report.verdict import dataset_verdict, recommended
from lossbench.store import ResultStore

CLASSES, COUNTS = ["big", "mid", "rare"], [300, 60, 8]
RNG = np.random.default_rng(0)


def record(loss: str, replicate: int, f1: list[float], val: float,
           baseline: bool = False) -> dict:
    """A stored final run whose test per-class F1 is ``f1`` and validation score ``val``."""
    support = [20, 20, 20]
    return {
        "suite": "fake", "dataset": "toy", "loss": loss, "replicate": replicate,
        "seed": 1000 + 100 * replicate, "baseline": baseline, "fingerprint": "x",
        "model": "mlp", "params": {"lr": 0.1}, "fixed_params": {}, "status": "ok",
        "diverged": None, "best_epoch": 1, "val_macro_f1": val, "history": [],
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


def replicates(rare: float, val: float, n: int = 6, spread: float = 0.01,
               base=(0.90, 0.70)) -> list[tuple[list[float], float]]:
    """``n`` replicates whose rare-class F1 is about ``rare`` (noise ``spread``), validation about
    ``val``; the shared noise of a replicate (same data for all losses) is added by the caller."""
    return [([base[0], base[1], rare + spread * RNG.standard_normal()],
             val + 0.002 * RNG.standard_normal()) for _ in range(n)]


def write_results(root, runs: dict[str, list[tuple[list[float], float]]],
                  baselines: tuple[str, ...] = ()) -> ResultStore:
    store = ResultStore(root)
    shared = RNG.normal(0, 0.03, size=max(len(v) for v in runs.values()))  # paired by replicate
    for loss, per_replicate in runs.items():
        for replicate, (f1, val) in enumerate(per_replicate):
            f1 = [f + shared[replicate] for f in f1]
            store.save_run(record(loss, replicate, f1, val, baseline=loss in baselines))
    store.write_json(store.suite_json, {
        "name": "fake", "datasets": ["toy"], "rope": 0.01,
        "losses": [name for name in runs if name not in baselines],
        "baselines": list(baselines), "budget": {"trials": 2}, "model": {}, "optim": {}})
    store.write_json(store.dataset_json("toy"), {
        "name": "toy", "kind": "features", "model": "mlp", "num_classes": 3,
        "class_names": CLASSES, "counts": {"train": COUNTS, "val": [5] * 3, "test": [20] * 3},
        "spec": {}})
    store.write_aggregates()
    return store


def verdict(root) -> str:
    results = load_results(root)
    return dataset_verdict(results, "toy", summary_table(results, "toy"))


def test_the_choice_follows_validation_not_test(tmp_path):
    # focal is best on test (rare 0.70), balanced_softmax best on validation (0.80 > 0.75)
    write_results(tmp_path, {"ce": replicates(0.20, 0.60),
                             "balanced_softmax": replicates(0.50, 0.80),
                             "focal": replicates(0.70, 0.75)})
    results = load_results(tmp_path)
    summary = summary_table(results, "toy")
    assert summary.set_index("loss").macro_f1.idxmax() == "focal"
    assert recommended(summary) == "balanced_softmax"
    text = verdict(tmp_path)
    assert text.startswith("**Use balanced_softmax.**")
    assert "focal" in text.split("Better than cross-entropy:")[1]  # the second loss is named


def test_a_permuted_test_split_changes_no_choice(tmp_path):
    # same validation scores, test values shuffled across losses: the recommendation stays
    runs = {"ce": replicates(0.20, 0.60), "poly": replicates(0.50, 0.80),
            "focal": replicates(0.70, 0.75)}
    write_results(tmp_path / "a", runs)
    shuffled = {"ce": [(f1, val) for (f1, _), (_, val) in zip(runs["focal"], runs["ce"])],
                "poly": [(f1, val) for (f1, _), (_, val) in zip(runs["ce"], runs["poly"])],
                "focal": [(f1, val) for (f1, _), (_, val) in zip(runs["poly"], runs["focal"])]}
    write_results(tmp_path / "b", shuffled)
    picks = [recommended(summary_table(load_results(tmp_path / d), "toy")) for d in "ab"]
    assert picks == ["poly", "poly"]


def test_equivalent_within_the_rope_is_said_so(tmp_path):
    ce = replicates(0.30, 0.70, n=8, spread=0.0005)
    same = [([f[0], f[1], f[2] + 0.001 + 0.003 * RNG.standard_normal()], val + 0.01)
            for f, val in ce]  # about +0.0003 macro-F1, well inside ±0.01
    write_results(tmp_path, {"ce": ce, "label_smoothing": same})
    text = verdict(tmp_path)
    assert text.startswith("**label_smoothing and cross-entropy are equivalent**")
    summary = summary_table(load_results(tmp_path), "toy").set_index("loss")
    assert summary.decision["label_smoothing"] == "equivalent"


def test_fewer_than_five_replicates_is_undecided(tmp_path):
    write_results(tmp_path, {"ce": replicates(0.20, 0.60, n=4),
                             "focal": replicates(0.70, 0.80, n=4)})
    text = verdict(tmp_path)
    assert text.startswith("**Undecided — run more replicates.**")
    assert "only 4 replicates" in text


def test_zero_variance_is_undecided(tmp_path):
    store = ResultStore(tmp_path)
    for replicate in range(5):
        store.save_run(record("ce", replicate, [0.9, 0.7, 0.2], 0.6))
        store.save_run(record("focal", replicate, [0.9, 0.7, 0.5], 0.8))
    store.write_json(store.suite_json, {"name": "fake", "datasets": ["toy"],
                                        "losses": ["ce", "focal"], "budget": {}})
    store.write_json(store.dataset_json("toy"), {"name": "toy", "class_names": CLASSES,
                                                 "counts": {"train": COUNTS}})
    summary = summary_table(load_results(tmp_path), "toy").set_index("loss")
    assert summary.decision["focal"] == "undecided"
    assert summary.delta_vs_ce["focal"] == pytest.approx(0.1)
    assert verdict(tmp_path).startswith("**Undecided")


def test_holm_adjusts_across_the_losses(tmp_path):
    runs = {"ce": replicates(0.20, 0.60)}
    for name in ("focal", "poly", "ldam", "balanced_softmax"):
        runs[name] = replicates(0.20, 0.55)
    runs["logit_adjusted"] = replicates(0.60, 0.90)
    write_results(tmp_path, runs)
    summary = summary_table(load_results(tmp_path), "toy").set_index("loss")
    raw, adjusted = summary.p_value.drop("ce"), summary.p_holm.drop("ce")
    assert (adjusted >= raw - 1e-12).all()
    smallest = raw.idxmin()
    assert adjusted[smallest] == pytest.approx(min(1.0, raw[smallest] * len(raw)))


def test_baselines_are_marked_and_the_verdict_compares_with_them(tmp_path):
    write_results(tmp_path, {"ce": replicates(0.20, 0.60),
                             "balanced_softmax": replicates(0.50, 0.80),
                             "ce+posthoc": replicates(0.50, 0.85)},
                  baselines=("ce+posthoc",))
    results = load_results(tmp_path)
    summary = summary_table(results, "toy")
    assert recommended(summary) == "balanced_softmax"  # a baseline is never recommended
    text = verdict(tmp_path)
    assert any(f"{word} ce+posthoc" in text for word in ("against", "than", "to"))
    assert "ce+posthoc" in text.split("Tied with balanced_softmax")[1]


def test_the_report_writes_verdict_json_and_every_table(tmp_path):
    write_results(tmp_path, {"ce": replicates(0.20, 0.60),
                             "balanced_softmax": replicates(0.50, 0.80),
                             "focal": replicates(0.20, 0.55)})
    markdown, html = build_report(tmp_path)
    verdict_json = json.loads((tmp_path / "verdict.json").read_text())
    toy = verdict_json["toy"]
    assert toy["recommended"] == "balanced_softmax"
    assert toy["recommended_vs_ce"] == "better"
    assert toy["losses"]["focal"]["category"] in ("undecided", "equivalent", "worse")
    assert toy["losses"]["balanced_softmax"]["p_holm"] >= toy["losses"]["balanced_softmax"]["p"]
    text = markdown.read_text()
    assert "p (Holm)" in text and "Use balanced_softmax" in text
    assert (tmp_path / "tables" / "toy_summary.csv").is_file() and html.is_file()


def test_a_torn_summary_file_changes_nothing(tmp_path):
    write_results(tmp_path, {"ce": replicates(0.20, 0.60),
                             "balanced_softmax": replicates(0.50, 0.80)})
    before = verdict(tmp_path)
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    (tmp_path / "runs.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    (tmp_path / "per_class.csv").write_text("dataset,loss\n")
    assert verdict(tmp_path) == before
