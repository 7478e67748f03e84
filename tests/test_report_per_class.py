"""``lossbench report DIR --per-class DATASET``: a classification-report style table in the
terminal, read from hand-made stored results (no training); unknown names are refused with the
nearest ones; without ``--per-class`` the command rebuilds the report as before. Also: per-class
intervals of bounded metrics stay inside [0, 1] (the CSV tables and the terminal alike)."""

import re

from helpers.cli import refused
from helpers.report_results import Data, replicates, spec, write_suite
from lossbench.cli import build_parser, main
from lossbench.report.load import load_results
from lossbench.report.tables import per_class_table
from lossbench.report.terminal import per_class_tables

NAMES = ["cat", "dog", "owl"]
COUNTS = [100, 30, 5]


def folder(tmp_path):
    """Two datasets, ce and focal on each; class 'cat' near F1 1 with a wide spread, so that an
    unclipped interval would pass 1."""
    runs = {"ce": replicates([0.99, 0.8, 0.4], 0.80, spread=0.03),
            "focal": replicates([0.99, 0.82, 0.5], 0.81, spread=0.03, seed=1)}
    data = {"digits-exp20": Data(spec("digits-exp20"), NAMES, COUNTS, runs),
            "blobs": Data(spec("blobs"), NAMES, COUNTS, runs)}
    write_suite(tmp_path, data)
    return tmp_path


def test_the_table_lists_every_class_then_the_averages(tmp_path, capsys):
    root = folder(tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert main(["report", str(root), "--per-class", "digits-exp20", "--loss", "focal"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "digits-exp20 / focal: test metrics, mean over 5 replicates"
    assert "/ ce:" not in out  # only the loss asked for
    header = next(line for line in lines if line.startswith("class"))
    assert re.split(r"\s{2,}", header) == ["class", "train images", "precision", "recall",
                                           "F1 [95 % interval]", "support"]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[4:7]]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("cat", "100", "20"), ("dog", "30", "20"),
                                                   ("owl", "5", "20")]  # most train images first
    assert re.fullmatch(r"0\.\d{3} \[0\.\d{3}, 1\.000\]", rows[0][4]), rows[0]  # clipped at 1
    macro = next(line for line in lines if line.startswith("macro avg"))
    assert macro.split()[-1] == "60"  # the support of every class
    assert any(line.startswith("balanced accuracy") for line in lines)
    assert any(line.startswith("accuracy") for line in lines)
    assert "clipped to [0, 1]" in lines[-1]
    # nothing written: the folder is as it was
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert not (root / "report.md").exists()


def test_every_loss_by_default_and_comma_separated_losses(tmp_path, capsys):
    root = folder(tmp_path)
    assert main(["report", str(root), "--per-class", "blobs"]) == 0
    titles = [line for line in capsys.readouterr().out.splitlines() if " / " in line]
    assert titles == ["blobs / ce: test metrics, mean over 5 replicates",
                      "blobs / focal: test metrics, mean over 5 replicates"]
    assert main(["report", str(root), "--per-class", "blobs", "--loss", "focal,ce"]) == 0
    titles = [line for line in capsys.readouterr().out.splitlines() if " / " in line]
    assert [t.split(":")[0] for t in titles] == ["blobs / focal", "blobs / ce"]


def test_the_numbers_are_the_stored_ones(tmp_path):
    root = folder(tmp_path)
    results = load_results(root)
    table = per_class_tables(results, "blobs", ["ce"])[0]
    frame = results.per_class
    owl = frame[(frame.dataset == "blobs") & (frame.loss == "ce") & (frame.class_name == "owl")]
    assert table.rows[2][4].startswith(f"{owl.f1.mean():.3f} [")
    assert table.rows[2][2] == f"{owl.precision.mean():.3f}"


def test_unknown_dataset_or_loss_is_one_line_with_the_nearest_names(tmp_path, capsys):
    root = folder(tmp_path)
    line = refused(["report", str(root), "--per-class", "digits-exp2"], capsys,
                   "unknown dataset 'digits-exp2'", "did you mean 'digits-exp20'")
    assert "allowed: blobs, digits-exp20" in line
    refused(["report", str(root), "--per-class", "blobs", "--loss", "focla"], capsys,
            "unknown loss 'focla' for dataset 'blobs'", "did you mean 'focal'")
    refused(["report", str(root), "--loss", "focal"], capsys, "--loss needs --per-class")
    refused(["report", str(tmp_path / "nothing"), "--per-class", "blobs"], capsys,
            "does not exist")


def test_without_per_class_the_report_is_rebuilt(tmp_path, capsys):
    root = folder(tmp_path)
    assert main(["report", str(root)]) == 0
    assert capsys.readouterr().out.startswith("report: ")
    assert (root / "report.md").read_text().startswith("# lossbench")


def test_every_option_has_help():
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    report = commands.choices["report"]
    options = [a for a in report._actions if a.dest != "help"]
    assert {a.dest for a in options} == {"results", "per_class", "loss"}
    assert all(a.help and len(a.help) > 20 for a in options)


def test_per_class_csv_intervals_stay_inside_0_1(tmp_path):
    root = folder(tmp_path)
    table = per_class_table(load_results(root), "digits-exp20")
    for metric in ("precision", "recall", "f1"):
        assert (table[f"{metric}_high"] <= 1.0).all() and (table[f"{metric}_low"] >= 0.0).all()
    cat = table[table.class_name == "cat"]
    assert (cat.recall_high == 1.0).all()  # would pass 1 unclipped (mean 0.99, spread 0.03)
