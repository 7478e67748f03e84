"""The GPU check's dry run (``lossbench gpu-check --dry-run``): every stage on the CPU at a tiny
size, on synthetic images."""

import json

import pytest
import torch
from lossbench.cli import main
from lossbench.engine.stacked import can_stack
from lossbench.pipeline.gpu_check import make_settings
from lossbench.pipeline.gpu_stacked import DECISION_RULE, stacked_recipes, stacked_setup
from lossbench.pipeline.gpu_stages import Clock

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")]


def test_dry_run_writes_every_stage(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSBENCH_CIFAR10_JPG", raising=False)  # synthetic images, no archive
    out = tmp_path / "gpu-check"
    assert main(["gpu-check", "--dry-run", "--out", str(out), "--budget-s", "300",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    record = json.loads((out / "gpu-check.json").read_text())
    assert record["dry_run"] and record["device"] == "cpu"
    assert record["command"].startswith("lossbench gpu-check --out ")
    assert "torch" in record["environment"]["versions"]
    stages = record["stages"]

    throughput = stages["throughput"]
    for loop in ("fast", "plain_dataloader"):
        assert throughput[loop]["images_per_s"] > 0 and len(throughput[loop]["epoch_seconds"]) == 2
    assert throughput["fast"]["speedup_vs_plain"] > 0

    recipe = stages["recipe"]
    assert recipe["status"] == "ok", recipe
    assert recipe["losses"] == ["ce", "ldam"]
    assert set(recipe["test_error_pct"]) == {"ce", "ldam"}
    report = (out / "recipe" / "report.md").read_text()
    assert "CIFAR-10-LT against the published numbers" in report

    timing = stages["timing"]
    assert timing["status"] == "ok", timing
    assert "timing-cpu.json" in timing["files"]
    stacked = stages["stacked"]  # the dry run's tiny setting: K = 2, one round, two epochs
    assert stacked["status"] == "ok", stacked
    assert stacked["dataset"] == "digits-exp20" and stacked["epochs"] == 2
    assert stacked["decision_rule"] == DECISION_RULE and stacked["suite_k"] == 10
    assert "torch" in stacked and stacked["device"].startswith("cpu")
    (row,) = stacked["by_k"]
    assert row["status"] == "ok" and row["k"] == 2 and row["rounds"] == 1, row
    assert row["can_stack"] is None and row["sequential_s"] > 0 and row["stacked_s"] > 0
    assert row["ratio"] == pytest.approx(row["stacked_s"] / row["sequential_s"], rel=1e-2)
    assert row["max_abs_score_diff"] <= 1e-6 and row["scores_equal"]  # equal on the CPU

    summary = (out / "gpu-check.md").read_text()
    assert "dry run" in summary and "| fast |" in summary and "plain_dataloader" in summary
    assert "## Stacked training" in summary and "stacked/sequential < 1" in summary


def test_without_data_and_not_dry_run_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("LOSSBENCH_CIFAR10_JPG", raising=False)
    assert main(["gpu-check", "--out", "/tmp/unused", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lossbench: error: ") and err.count("\n") == 1 and "--root" in err


def test_gpu_check_is_no_longer_a_module_of_its_own():
    with pytest.raises(ImportError):
        __import__("lossbench.gpu_check")


def test_stacked_recipes_stack_and_centre_on_the_suites_middle_rates(tmp_path):
    cpu = torch.device("cpu")
    suite, _entry, data, plans = stacked_setup(cpu, dry_run=True, cache_dir=tmp_path)
    recipes = stacked_recipes(plans, data, cpu, 8)
    assert can_stack(recipes, data, cpu) is None
    names = [r.loss for r in recipes]
    assert names[0] == "ce" and len(set(names)) == 8 and "ldam" not in names  # cosine head
    assert dict(recipes[3].loss_params) == {"gamma": 2.0}  # focal at the registry's default
    lrs, decays = [r.lr for r in recipes], [r.weight_decay for r in recipes]
    assert len(set(lrs)) == 8 and len(set(decays)) == 8
    middle = (suite.optim.lr[0] * suite.optim.lr[1]) ** 0.5
    assert (lrs[0] * lrs[-1]) ** 0.5 == pytest.approx(middle)


def test_stacked_stage_is_skipped_when_out_of_time(tmp_path):
    from lossbench.pipeline.gpu_stacked import stage_stacked

    settings = make_settings(out=tmp_path, dry_run=True, cache_dir=tmp_path)
    record = stage_stacked(settings, Clock(settings.timing_s + 20))  # under 10 s left for it
    assert record["status"] == "skipped" and record["reason"] == "out of time"
    assert record["decision_rule"] == DECISION_RULE
