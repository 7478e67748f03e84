"""``lossbench run --skip-unbuildable``: a suite with one dataset that builds and one that cannot
(an imagefolder root that does not exist). Without the flag the preflight stops the run before
anything is written, naming the dataset; with it the other dataset runs, its results are stored,
``skipped.json`` holds the reason and the report's first lines name the skipped dataset."""

import json

import pytest
from helpers.cli import refused
from lossbench.cli import main
from lossbench.report.completeness import completeness
from lossbench.report.load import load_results
from lossbench.store import ResultStore

pytestmark = pytest.mark.slow

SUITE = """
name = "skippy"
losses = ["ce"]
baselines = []
[budget]
trials = 1
epochs = 1
batch_size = 32
replicates = 1
seeds = 1
startup_trials = 1
prune_warmup_epochs = 1
[[datasets]]
name = "blobs"
source = "gaussian"
options = { counts = [40, 20, 10], dimension = 4 }
[[datasets]]
name = "photos"
source = "imagefolder"
options = { root = "MISSING" }
"""


def suite_file(tmp_path):
    path = tmp_path / "skippy.toml"
    path.write_text(SUITE.replace("MISSING", str(tmp_path / "no-such-folder")))
    return path


def run(tmp_path, out, *extra):
    return ["run", str(suite_file(tmp_path)), "--out", str(out), "--device", "cpu",
            "--threads", "1", "--workers", "1", "--no-progress", *extra]


def test_without_the_flag_nothing_is_written_and_the_dataset_is_named(tmp_path, capsys):
    out = tmp_path / "out"
    refused(run(tmp_path, out), capsys, "dataset 'photos' cannot be built",
            "does not exist")
    assert not out.exists()
    # a folder that already exists is left byte for byte as it was
    out.mkdir()
    (out / "note.txt").write_text("kept")
    refused(run(tmp_path, out), capsys, "dataset 'photos' cannot be built")
    assert [p.name for p in out.iterdir()] == ["note.txt"]
    assert (out / "note.txt").read_text() == "kept"


def test_with_the_flag_the_rest_runs_and_the_report_names_the_skip(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(run(tmp_path, out, "--skip-unbuildable")) == 0
    err = capsys.readouterr().err
    assert "skipping dataset 'photos'" in err and "does not exist" in err
    store = ResultStore(out)
    runs = list(store.runs())
    assert {(r["dataset"], r["loss"]) for r in runs} == {("blobs", "ce")}
    skipped = json.loads((out / "skipped.json").read_text())
    assert list(skipped) == ["photos"] and "does not exist" in skipped["photos"]
    assert store.skipped() == skipped
    assert json.loads(store.suite_json.read_text())["datasets"] == ["blobs", "photos"]
    head = "\n".join((out / "report.md").read_text().splitlines()[:6])
    assert "**Partial results**: 1 of 2 final runs stored" in head, head
    assert "Skipped, could not be built (`--skip-unbuildable`): photos: imagefolder path" in head
    assert "no-such-folder does not exist" in head
    assert "Datasets of the suite with no run" not in head  # named once, with its reason
    complete, _ = completeness(load_results(out))
    assert not complete

    # The root made: a rerun builds it, so its entry leaves skipped.json.
    store.write_skipped(["blobs"], {})  # another dataset checked: the skip stays
    assert store.skipped() == skipped
    store.write_skipped(["blobs", "photos"], {})  # both built: the file goes
    assert not store.skipped_json.exists() and store.skipped() == {}


def test_no_dataset_left_is_an_error(tmp_path, capsys):
    only = tmp_path / "only.toml"
    text = SUITE.replace("MISSING", str(tmp_path / "no-such-folder"))
    only.write_text(text[:text.index('[[datasets]]\nname = "blobs"')]
                    + text[text.index('[[datasets]]\nname = "photos"'):])
    out = tmp_path / "out"
    refused(["run", str(only), "--out", str(out), "--device", "cpu", "--workers", "1",
             "--no-progress", "--skip-unbuildable"], capsys,
            "no dataset of suite 'skippy' can be built", "'photos'")
    assert not out.exists()
