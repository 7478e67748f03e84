"""The GPU check's dry run: every stage on the CPU at a tiny size, on synthetic images."""

import json

import pytest
from lossbench import gpu_check

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")]


def test_dry_run_writes_every_stage(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSBENCH_CIFAR10_JPG", raising=False)  # synthetic images, no archive
    out = tmp_path / "gpu-check"
    assert gpu_check.main(["--dry-run", "--out", str(out), "--budget-s", "300",
                           "--cache-dir", str(tmp_path / "cache")]) == 0
    record = json.loads((out / "gpu-check.json").read_text())
    assert record["dry_run"] and record["device"] == "cpu"
    assert "torch" in record["environment"]["versions"]
    stages = record["stages"]

    throughput = stages["throughput"]
    for loop in ("fast", "plain_dataloader"):
        assert throughput[loop]["images_per_s"] > 0 and len(throughput[loop]["epoch_seconds"]) == 2
    assert throughput["fast"]["speedup_vs_plain"] > 0

    recipe = stages["recipe"]
    assert recipe["status"] == "ok" and recipe["losses"] == ["ce", "ldam"]
    assert set(recipe["test_error_pct"]) == {"ce", "ldam"}
    report = (out / "recipe" / "report.md").read_text()
    assert "CIFAR-10-LT against the published numbers" in report

    timing = stages["timing"]
    assert timing["status"] in ("ok", "skipped"), timing
    if timing["status"] == "ok":
        assert "timing-cpu.json" in timing["files"]
    summary = (out / "gpu-check.md").read_text()
    assert "dry run" in summary and "| fast |" in summary and "plain_dataloader" in summary


def test_without_data_and_not_dry_run_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("LOSSBENCH_CIFAR10_JPG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--out", "/tmp/unused", "--device", "cpu"])
    assert exit_info.value.code == 2 and "--root" in capsys.readouterr().err
