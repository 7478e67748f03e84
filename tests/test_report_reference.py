"""The report's comparison with the committed reference run (results/reference/<suite>/)."""

import shutil

from helpers.suites import blobs_suite
from lossbench.cli import main
from lossbench.report import build_report
from lossbench.report.reference import loss_rows, same_choice
from lossbench.store import ResultStore


def verdict(best, tied, intervals):
    return {"recommended": best, "tied_with_recommended": tied,
            "losses": {name: {"test_macro_f1": 0.5, "interval": list(bounds)}
                       for name, bounds in intervals.items()}}


def test_a_choice_agrees_when_equal_or_inside_both_tied_sets():
    assert same_choice(verdict("focal", [], {}), verdict("focal", [], {}))
    assert same_choice(verdict("focal", ["ldam"], {}), verdict("ldam", ["focal"], {}))
    assert not same_choice(verdict("focal", ["ldam"], {}), verdict("ldam", [], {}))
    assert not same_choice(verdict(None, [], {}), verdict("ldam", [], {}))


def test_intervals_are_compared_loss_by_loss():
    here = verdict("focal", [], {"focal": (0.01, 0.05), "ldam": (0.0, 0.02), "ce": (None, None)})
    there = verdict("focal", [], {"focal": (0.04, 0.08), "ldam": (0.03, 0.06), "ce": (None, None)})
    rows = loss_rows(here, there).set_index("loss")["intervals overlap"]
    assert rows.to_dict() == {"focal": "yes", "ldam": "NO", "ce": "n/a"}


def test_a_fresh_run_beside_the_reference_ends_with_the_comparison(tmp_path):
    results = tmp_path / "results"
    suite = tmp_path / "tiny.toml"
    suite.write_text(blobs_suite(name="tiny", losses=("ce", "focal"), trials=1, epochs=2,
                                 seeds=1, replicates=2))
    assert main(["run", str(suite), "--out", str(results / "tiny"), "--device", "cpu",
                 "--threads", "1", "--no-progress", "--no-report"]) == 0
    shutil.copytree(results / "tiny", results / "reference" / "tiny")
    # the reference's own report (which writes its verdict.json) has no such section
    assert ResultStore(results / "reference" / "tiny").reference_root is None
    assert "Against the committed reference" not in \
        build_report(results / "reference" / "tiny")[0].read_text()
    text = build_report(results / "tiny")[0].read_text()
    assert "## Against the committed reference" in text
    assert "on 1 of 1 datasets" in text  # the same stored runs: the choice agrees
    assert "| focal " in text.split("## Against the committed reference")[1]
