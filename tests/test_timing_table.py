"""The timing table: its structure, its files, and what the report writer reads back."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from lossbench.cli import main
from lossbench.commands.timing import parse_shape, parse_shapes
from lossbench.errors import UserError
from lossbench.losses import available_losses
from lossbench.timing.files import load_timing, timing_markdown, write_timing
from lossbench.timing.measure import GOALS, peak_memory, profile_step, run_timing

TINY = {"rounds": 3, "block_seconds": 0.0002}


@pytest.fixture(scope="module")
def table():
    # 256x18 is a goal shape on the CPU; 16x5 has no goal
    return run_timing([(256, 18), (16, 5)], "cpu", **TINY)


def test_every_loss_has_a_row_at_every_shape(table):
    assert [shape["shape"] for shape in table["shapes"]] == ["256x18", "16x5"]
    for shape in table["shapes"]:
        assert [row["loss"] for row in shape["losses"]] == available_losses()


def test_rows_hold_time_ratios_memory_and_the_plain_formulation(table):
    for shape in table["shapes"]:
        for row in shape["losses"]:
            for summary in (row, row["plain"]):
                assert summary["median_us"] > 0 and summary["min_us"] <= summary["median_us"]
                assert summary["ratio_ce"] > 0 and summary["ratio_copy"] > 0
                assert summary["peak_mib"] is not None and summary["peak_mib"] >= 0
                assert summary["aten_ops"] >= 2 and summary["full_allocs"] >= 1
        assert shape["reference"]["ratio_ce"] == pytest.approx(1.0)
        assert shape["floor"]["ratio_copy"] == pytest.approx(1.0)


def test_goals_apply_at_their_shapes_only(table):
    at_goal, elsewhere = table["shapes"]
    assert all(row["goal"] == GOALS["cpu"][(256, 18)] for row in at_goal["losses"])
    assert all(isinstance(row["meets_goal"], bool) for row in at_goal["losses"])
    assert all(row["goal"] is None and row["meets_goal"] is None for row in elsewhere["losses"])


def test_table_says_where_it_was_measured(table):
    env = table["environment"]
    assert table["device_type"] == "cpu" and table["threads"] == torch.get_num_threads()
    assert env["versions"]["torch"] and env["device"].startswith("cpu")
    assert table["method"]["rounds"] == 3


def test_markdown_lists_every_loss_shape_and_environment(table):
    text = timing_markdown(table)
    for name in available_losses():
        assert f"| {name} |" in text
    assert "256x18" in text and "16x5" in text and " thread" in text
    assert f"torch {table['environment']['versions']['torch']}" in text


def test_files_round_trip_for_the_report(table, tmp_path):
    paths = write_timing(table, tmp_path)
    assert {p.name for p in paths.values()} == {"timing-cpu.json", "timing-cpu.md",
                                                "timing-cpu.png"}
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = load_timing(tmp_path)
    assert list(loaded) == ["cpu"]
    assert loaded["cpu"]["shapes"][0]["losses"][0]["loss"] == available_losses()[0]
    assert "![" in timing_markdown(loaded, figures="timing") and "timing/timing-cpu.png" in \
        timing_markdown(loaded, figures="timing")
    json.loads(paths["json"].read_text())  # plain JSON, no NaN


def test_load_timing_of_a_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="lossbench timing"):
        load_timing(tmp_path / "nothing")


@pytest.mark.parametrize("text, expected", [("256x18", (256, 18)), ("8192×1000", (8192, 1000))])
def test_shapes_parse(text, expected):
    assert parse_shape(text) == expected
    assert parse_shapes(f"{text}, 4x2") == [expected, (4, 2)]


@pytest.mark.parametrize("text", ["256", "axb", "0x18", "256x1", ""])
def test_bad_shapes_are_refused(text):
    with pytest.raises(UserError):
        parse_shapes(text)


def test_profile_of_cross_entropy_counts_its_full_size_tensors():
    logits = torch.randn(512, 100, requires_grad=True)
    target = torch.randint(0, 100, (512,))

    def step():
        return torch.autograd.grad(F.cross_entropy(logits, target), logits)

    found = profile_step(step, torch.device("cpu"), full_bytes=logits.numel() * 4)
    # log-probabilities, the gradient of nll_loss and the returned gradient: 3 × N·C floats
    assert found["full_allocs"] == 3
    assert found["peak_bytes"] >= 2 * logits.numel() * 4
    assert peak_memory(step, torch.device("cpu")) == found["peak_bytes"]
    assert 2 <= found["aten_ops"] <= 10


def test_cli_writes_the_table(tmp_path, capsys):
    status = main(["timing", "--shapes", "16x5", "--rounds", "3", "--block-ms", "0.2",
                   "--device", "cpu", "--losses", "focal,ce", "--out", str(tmp_path)])
    assert status == 0
    assert (tmp_path / "timing-cpu.json").exists() and (tmp_path / "timing-cpu.png").exists()
    assert "| focal |" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--shapes", "256"], "ROWSxCLASSES"),
    (["--device", "tpu"], "allowed: auto, cuda, mps, cpu"),
    (["--losses", "focl"], "Did you mean 'focal'"),
    (["--rounds", "1"], "--rounds must be at least 3"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--block-ms", "0"], "--block-ms must be positive"),
])
def test_cli_bad_input_exits_2_with_one_line(args, message, capsys):
    assert main(["timing", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_timing_files_and_the_report_read_them_without_torch():
    import subprocess
    import sys

    code = ("import sys, lossbench.timing.files, lossbench.timing; "
            "print(sorted(m for m in ('torch', 'lossbench.losses') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert found == "[]"


def test_the_summary_table_is_built_once_for_markdown_and_report(table):
    from lossbench.report.timing import timing_frame
    from lossbench.timing.files import summary_markdown

    frame = timing_frame(table)
    markdown = summary_markdown(table).splitlines()
    assert list(frame.columns) == ["loss", "256x18", "16x5"]
    assert len(markdown) == len(frame) + 2  # header, rule, then one line per row
    for line, (_, row) in zip(markdown[3:], frame.iloc[1:].iterrows()):
        assert line == "| " + " | ".join(row) + " |"


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    from lossbench.pipeline.harness import run_harness

    folder = tmp_path_factory.mktemp("harness")
    return run_harness("default", "cpu", rounds=2, epochs=1, threads=1,
                       cache_dir=folder / "cache",
                       datasets=["digits-exp20", "mask-60plus-eighth"]), folder


def test_harness_writes_both_files_with_every_row(harness):
    from lossbench.timing.files import load_harness, write_harness

    table, folder = harness
    paths = write_harness(table, folder)
    assert {p.name for p in paths.values()} == {"harness-cpu.json", "harness-cpu.md"}
    loaded = load_harness(folder)["cpu"]
    assert [row["case"] for row in loaded["rows"]] == ["bare_loop", "lossbench_train",
                                                       "trial_sqlite", "trial_journal",
                                                       "optuna_sqlite"]
    for row in loaded["rows"]:
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0 and len(row["seconds"]) == 2
    assert loaded["rows"][0]["ratio"] == pytest.approx(1.0)
    assert loaded["recipe"]["epochs"] == 1 and loaded["threads"] == 1
    # one warm-up and two timed trials each, all complete (pruning is off)
    assert loaded["method"]["trial_states"] == {"trial_sqlite": {"COMPLETE": 3},
                                                "trial_journal": {"COMPLETE": 3},
                                                "optuna_sqlite": {"COMPLETE": 3}}
    text = paths["markdown"].read_text()
    for label in ("bare PyTorch loop", "lossbench train()", "SQLite", "journal", "Optuna alone"):
        assert label in text
    # --datasets: the first at the top level, each in its own row with its own recipe
    parts = loaded["datasets"]
    assert [p["recipe"]["dataset"] for p in parts] == ["digits-exp20", "mask-60plus-eighth"]
    assert parts[0]["rows"] == loaded["rows"] and parts[1]["recipe"]["batch_size"] == 512
    row = next(line for line in text.splitlines() if line.startswith("| mask-60plus-eighth |"))
    ratios = [float(cell.strip().rstrip("×")) for cell in row.strip("|").split("|")[-4:]]
    assert ratios == [pytest.approx(r["ratio"], abs=0.005) for r in parts[1]["rows"][1:]]


def test_harness_datasets_are_checked_against_the_suite():
    from lossbench.errors import UserError
    from lossbench.pipeline.harness import pick_datasets

    assert pick_datasets("default", None) is None
    assert pick_datasets("default", "all")[0] == "digits-exp20"
    assert len(pick_datasets("default", "all")) == 5
    assert pick_datasets("default", "mask-natural, digits-exp20") == ["mask-natural",
                                                                      "digits-exp20"]
    with pytest.raises(UserError, match="no dataset 'digits'.*allowed: all, or some of "
                                        "digits-exp20, mask-natural"):
        pick_datasets("default", "digits")


def test_report_shows_the_harness_table(harness, tmp_path):
    from lossbench.report.document import Document, to_markdown
    from lossbench.report.timing import timing_section
    from lossbench.timing.files import write_harness

    write_harness(harness[0], tmp_path / "timing")
    (tmp_path / "default").mkdir()
    doc = Document("t")
    timing_section(doc, tmp_path / "default")
    markdown = to_markdown(doc, tmp_path / "default")
    assert "## Harness timing" in markdown and "(c) Optuna trial" in markdown
    assert "## Kernel timing" not in markdown  # no kernel table in that folder


# ------------------------------------------------- the logits each loss feeds (LDAM: s·z)
def test_ldam_is_also_compared_with_native_ce_of_the_logits_it_feeds(table):
    for shape in table["shapes"]:
        row = next(r for r in shape["losses"] if r["loss"] == "ldam")
        assert row["fed"]["logits"] == "s·z" and row["fed"]["median_us"] > 0
        assert row["ratio_fed"] > 0 and row["fed"]["ratio_ce"] > 0
        assert all("fed" not in r for r in shape["losses"] if r["loss"] != "ldam")
    assert table["method"]["logits"] == "uniform in [-1, 1]"
    assert table["method"]["feeds"]["ldam"].startswith("s·z")
    text = timing_markdown(table)
    assert "CE(s·z)]" in text and "| native CE of s·z (ldam) |" in text
    assert "|z| ≤ 1" in text and "ldam: s·z" in text and "×CE fed" in text


def test_batches_are_uniform_by_default_or_normal():
    from lossbench.timing.cases import make_batch

    uniform, _ = make_batch((64, 10), torch.device("cpu"))
    normal, _ = make_batch((64, 10), torch.device("cpu"), logits="normal")
    assert uniform.abs().max() <= 1 and normal.abs().max() > 1 and normal.requires_grad
    with pytest.raises(ValueError, match="uniform, normal"):
        make_batch((4, 2), torch.device("cpu"), logits="wide")


def test_a_table_of_normal_logits_says_so():
    table = run_timing([(16, 5)], "cpu", losses=["ldam"], plain=False, memory=False,
                       logits="normal", **TINY)
    assert table["method"]["logits"] == "N(0, 1)"
    assert "Logits z: N(0, 1)" in timing_markdown(table) and "underflow" in \
        timing_markdown(table)


# ------------------------------------- the clamp of z − max at −87 in the fused softmaxes
def _large_batch(scale):
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(96, 40, generator=generator) * scale
    logits[:, 0] = -60.0 * scale  # a true class far below the maximum: clamped unless kept
    target = torch.randint(0, 40, (96,), generator=generator)
    target[:8] = 0
    return logits, target


@pytest.mark.parametrize("name", ["ldam", "label_smoothing"])
def test_clamped_softmax_keeps_values_and_gradients(name, monkeypatch):
    from lossbench.losses import _fused, build_loss

    scale = 1.0 if name == "ldam" else 30.0  # LDAM multiplies by s = 30 itself
    logits, target = _large_batch(scale)
    counts = [1000 // (c + 1) for c in range(40)]
    module = build_loss(name, 40, class_counts=counts)
    monkeypatch.setattr(_fused, "_MIN_ELEMENTS", 0)  # the clamp at a small test size
    seen = []
    original = _fused.spreads_past_bound
    monkeypatch.setattr(_fused, "spreads_past_bound",
                        lambda values, *a: seen.append(original(values, *a)) or seen[-1])

    def value_grad(z):
        z = z.clone().requires_grad_()
        value = module(z, target)
        return value.detach(), torch.autograd.grad(value, z)[0]

    clamped = value_grad(logits)
    assert seen and all(seen)  # the clamp was taken
    monkeypatch.setattr(_fused, "spreads_past_bound", lambda *a: False)
    unclamped = value_grad(logits)
    assert torch.equal(clamped[0], unclamped[0])  # the forward's float32 numbers, the same
    torch.testing.assert_close(clamped[1], unclamped[1], rtol=1e-6, atol=1e-30)
    # and against float64, where nothing is clamped (float64 underflows at e^−708 only)
    expected, expected_grad = value_grad(logits.double())
    torch.testing.assert_close(clamped[0].double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(clamped[1].double(), expected_grad, rtol=1e-3,
                               atol=2e-5 * expected_grad.abs().max().item())


def test_the_clamp_is_left_out_where_nothing_underflows(monkeypatch):
    from lossbench.losses import _fused
    from lossbench.losses._fused import UNDERFLOW_BOUND, spreads_past_bound

    big = torch.linspace(-50, 50, 1000).repeat(256, 1)  # 2^18 entries
    assert spreads_past_bound(big) and not spreads_past_bound(big[:4])  # small: not worth it
    monkeypatch.setattr(_fused, "_MIN_ELEMENTS", 0)
    assert UNDERFLOW_BOUND == 87.0
    assert torch.exp(torch.tensor(-UNDERFLOW_BOUND)) >= torch.finfo(torch.float32).tiny
    assert torch.exp(torch.tensor(-88.0)) < torch.finfo(torch.float32).tiny  # −88: denormal
    wide = torch.linspace(-50, 50, 40).repeat(4, 1)
    assert spreads_past_bound(wide) and not spreads_past_bound(wide / 2)
    assert not spreads_past_bound(wide.double())  # float64 underflows at e^−708


def test_harness_datasets_flag_is_checked_on_the_command_line(capsys, tmp_path):
    from helpers.cli import refused

    refused(["timing", "--datasets", "all", "--out", str(tmp_path)], capsys,
            "--datasets applies to --harness only")
    refused(["timing", "--harness", "--datasets", "digits", "--out", str(tmp_path)], capsys,
            "no dataset 'digits' in suite 'default'")
    assert not list(tmp_path.iterdir())  # nothing measured, nothing written
