"""CIFAR-10-LT through the whole pipeline: the JPEG archive, a long-tailed subset, tuning, final
runs on CIFAR-10's own test set, and the report with the published numbers beside.

Needs the archive: LOSSBENCH_CIFAR10_JPG=path/to/cifar10-jpg.tar.gz (``.ci/run`` sets it when
``../shared/data`` holds it); skipped otherwise.
"""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from lossbench.cli import main
from lossbench.datasets import long_tail_counts

pytestmark = pytest.mark.slow

ARCHIVE = os.environ.get("LOSSBENCH_CIFAR10_JPG")
needs_archive = pytest.mark.skipif(not ARCHIVE or not Path(ARCHIVE).is_file(),
                                   reason="set LOSSBENCH_CIFAR10_JPG to the path of "
                                          "cifar10-jpg.tar.gz to run the CIFAR-10-LT test")

# The recipe's dataset at a tenth of the size: exponential profile, ratio 10, 50 down to 5 images
# a class, 5 a class for validation, a 16x16 decode; the test split is CIFAR-10's own 10,000.
SUITE = """
name = "cifar-tiny"
losses = ["ce", "ldam"]
baselines = []
[budget]
trials = 2
epochs = 2
batch_size = 32
seeds = 1
startup_trials = 1
prune_warmup_epochs = 1
[model]
images = "small_cnn"
width = 4
augment = "flip_crop"
cosine_head = ["ldam"]
[optim]
schedule = "step"
nesterov = false
[loss_params.ldam]
drw_start = 0.5
[[datasets]]
name = "cifar10-lt-tiny"
source = "imagefolder"
options = { size = 16 }
profile = "exp"
imbalance_ratio = 10
n_max = 50
val = "balanced"
val_per_class = 5
test = "source"
"""


@needs_archive
def test_cifar10_lt_subset_end_to_end(tmp_path):
    suite_file, out = tmp_path / "cifar-tiny.toml", tmp_path / "results"
    suite_file.write_text(SUITE)
    assert main(["run", str(suite_file), "--root", ARCHIVE, "--out", str(out),
                 "--device", "cpu", "--threads", "2", "--no-progress"]) == 0

    protocol = json.loads((out / "datasets" / "cifar10-lt-tiny.json").read_text())
    counts = protocol["counts"]
    assert counts["train"] == long_tail_counts("exp", num_classes=10, n_max=50,
                                               imbalance_ratio=10)
    assert counts["val"] == [5] * 10 and counts["test"] == [1000] * 10
    assert protocol["class_names"][0] == "airplane" and protocol["input_shape"] == [3, 16, 16]

    summary = pd.read_csv(out / "tables" / "cifar10-lt-tiny_summary.csv")
    assert list(summary.loss) == ["ce", "ldam"]
    assert summary.accuracy.between(0, 1).all()
    report = (out / "report.md").read_text()
    section = report[report.index("## CIFAR-10-LT against the published numbers"):
                     report.index("## Results")]
    assert "images/s" in section and "reference code" in section and "JPEG" in section
    for loss in ("ce", "ldam"):
        assert f"| {loss} " in section
    assert "n/a" not in section.split("What differs")[0]
