"""The packaged ``mask`` suite end to end on a generated copy of the competition's layout."""

import json

import pandas as pd
import pytest
from helpers.datasets_fixtures import make_mask_dataset
from lossbench.cli import main

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")]


DATASETS = ("mask-natural", "mask-60plus-half", "mask-60plus-quarter", "mask-60plus-eighth")
OLD = (8, 11, 14, 17)  # the 60-and-over classes


def people() -> list[tuple[str, str, str, int]]:
    """56 persons: 6 per gender under 30 and 30-59, 16 per gender 60 and over, so that 1/8 of the
    old band still leaves a photo of each of its classes for training."""
    rows = []
    for gender in ("male", "female"):
        for ages, count in (((18, 22, 25, 29), 6), ((30, 45, 57, 58, 59), 6), ((60, 61, 75, 80), 16)):
            for k in range(count):
                rows.append((f"{len(rows) + 1:06d}", gender, "Asian", ages[k % len(ages)]))
    return rows


def test_mask_suite_on_a_generated_fixture(tmp_path):
    root = make_mask_dataset(tmp_path / "mask", people=people())
    out = tmp_path / "results"
    assert main(["run", "mask", "--root", str(root), "--device", "cpu", "--trials", "2",
                 "--epochs", "1", "--seeds", "2", "--replicates", "1", "--losses", "ce,ldam", "--cache-dir",
                 str(tmp_path / "cache"), "--out", str(out), "--threads", "1",
                 "--no-progress"]) == 0
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    # ce, ldam and the two baselines (ce+posthoc from the ce model): 4 datasets x 4 x 2 seeds
    assert {r["dataset"] for r in runs} == set(DATASETS) and len(runs) == 4 * 4 * 2
    protocol = {name: json.loads((out / "datasets" / f"{name}.json").read_text())
                for name in DATASETS}
    assert all(p["model"] == "small_cnn" and p["input_shape"] == [3, 32, 32]
               for p in protocol.values())  # the [cpu] overrides
    old = [sum(protocol[name]["counts"]["train"][c] for c in OLD) for name in DATASETS]
    assert old == sorted(old, reverse=True) and old[0] > old[-1]
    per_class = pd.read_csv(out / "per_class.csv")
    assert per_class.groupby(["dataset", "loss", "seed"]).size().eq(18).all()
    assert (out / "report.html").stat().st_size > 10_000


def test_mask_suite_without_root_says_so(tmp_path, capsys):
    assert main(["run", "mask", "--device", "cpu", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--root" in capsys.readouterr().err
