"""Cautions in a verdict: chance level, a small validation split, a tuned value that turns a loss
into another (hand-made results, no training)."""

import json

from helpers.report_results import Data, replicates, spec, write_suite
from lossbench.report import build_report
from lossbench.report.cautions import cautions
from lossbench.report.load import load_results
from lossbench.report.tables import summary_table

NAMES = ["a", "b", "c"]


def folder(tmp_path, gamma: float, tau: float):
    runs = {"ce": replicates([0.9, 0.8, 0.7], 0.80), "focal": replicates([0.9, 0.8, 0.7], 0.81, seed=1),
            "logit_adjusted": replicates([0.9, 0.8, 0.75], 0.82, seed=2),
            "soft_f1": replicates([0.4, 0.1, 0.1], 0.20, seed=3)}  # below 1.5/3 = 0.5: chance
    store = write_suite(tmp_path, {"d": Data(spec("d"), NAMES, [100, 30, 5], runs)})
    for replicate in range(5):
        for loss, params, space in (
                ("focal", {"gamma": gamma}, {"gamma": {"kind": "float", "low": 0.0, "high": 5.0}}),
                ("logit_adjusted", {"tau": tau}, {"tau": {"kind": "float", "low": 0.0, "high": 2.0}})):
            store.write_json(store.chosen_json("d", loss, replicate),
                             {"params": {**params, "lr": 0.1}, "search_space": space,
                              "number": 0, "value": 0.8})
    results = load_results(tmp_path)
    return results, summary_table(results, "d")


def test_chance_level_small_validation_and_a_neutral_value_are_named(tmp_path):
    results, summary = folder(tmp_path, gamma=0.04, tau=1.01)
    found = cautions(results, "d", summary)
    assert any(text.startswith("soft_f1 is at chance level") and "1.5/3 = 0.500" in text
               for text in found), found
    assert any("validation holds only 5 rows of class a, b, c" in text for text in found), found
    assert any("focal's tuned gamma = 0.04" in text and "nearly cross-entropy" in text
               for text in found), found
    assert any("logit_adjusted's tuned tau = 1.01" in text and "nearly balanced_softmax" in text
               for text in found), found
    assert not any(text.startswith(("ce ", "focal is")) for text in found), found
    build_report(tmp_path)
    record = json.loads((tmp_path / "verdict.json").read_text())["d"]
    assert record["cautions"] == found
    assert "Caution: " in (tmp_path / "report.md").read_text()


def test_values_away_from_the_neutral_points_are_not_flagged(tmp_path):
    results, summary = folder(tmp_path, gamma=2.0, tau=0.5)
    found = cautions(results, "d", summary)
    assert not any("tuned" in text for text in found), found


def test_the_report_says_whether_it_is_complete(tmp_path):
    from lossbench.report.completeness import completeness

    results, _ = folder(tmp_path, gamma=2.0, tau=0.5)
    complete, text = completeness(results)
    assert complete and text.startswith("Complete: 1 of 1 datasets, 4 losses and baselines, "
                                        "20 of 20 final runs"), text
    # one loss's last replicate missing and a second dataset of the suite never run
    (run,) = [p for p in (tmp_path / "runs").rglob("r4-seed*.json") if "focal" in str(p)]
    run.unlink()
    suite = json.loads((tmp_path / "suite.json").read_text())
    suite["datasets"].append("never-ran")
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    complete, text = completeness(load_results(tmp_path))
    assert not complete and text.startswith("**Partial results**: 19 of 24 final runs"), text
    assert "Datasets of the suite with no run: never-ran." in text
    assert "d / focal: 4 of 5 final runs" in text
    build_report(tmp_path)
    assert "**Partial results**" in (tmp_path / "report.md").read_text().split("## ")[0]
