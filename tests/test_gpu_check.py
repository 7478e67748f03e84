"""The GPU check's dry run (``lossbench gpu-check --dry-run``): every stage on the CPU at a tiny
size, on synthetic images."""

import json

import pytest
from lossbench.cli import main

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
    summary = (out / "gpu-check.md").read_text()
    assert "dry run" in summary and "| fast |" in summary and "plain_dataloader" in summary


def test_without_data_and_not_dry_run_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("LOSSBENCH_CIFAR10_JPG", raising=False)
    assert main(["gpu-check", "--out", "/tmp/unused", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lossbench: error: ") and err.count("\n") == 1 and "--root" in err


def test_gpu_check_is_no_longer_a_module_of_its_own():
    with pytest.raises(ImportError):
        __import__("lossbench.gpu_check")
