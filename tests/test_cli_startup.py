"""The command line starts at once: its parsers are built without torch, Optuna, pandas, SciPy or
matplotlib, which the commands import when they run (issue 12, item 5).

Each check runs in a fresh interpreter, since this test process has imported them already.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

import pytest
from lossbench.cli import build_parser, main

HEAVY = ("torch", "optuna", "pandas", "scipy", "matplotlib", "sqlalchemy")


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object as its last line."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _commands() -> list[str]:
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    return sorted(subparsers.choices)


def test_building_the_parser_imports_no_heavy_module():
    found = _fresh(f"""
        import json, sys
        import lossbench.cli
        lossbench.cli.build_parser()
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
    """)
    assert found == [], f"building the parser imported {found}"


def test_every_command_help_exits_0_without_heavy_imports():
    commands = _commands()
    assert {"run", "tune", "report", "timing", "losses", "datasets", "gpu-check"} <= set(commands)
    found = _fresh(f"""
        import contextlib, io, json, sys
        from lossbench.cli import main
        codes = {{}}
        for argv in [["--help"]] + [[name, "--help"] for name in {commands!r}]:
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    codes[" ".join(argv)] = main(argv)
                except SystemExit as stop:
                    codes[" ".join(argv)] = stop.code
        print(json.dumps({{"codes": codes,
                          "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
    """)
    assert found["codes"] == {key: 0 for key in found["codes"]}
    assert len(found["codes"]) == len(commands) + 1
    assert found["heavy"] == []


def test_datasets_show_help_lists_every_source_option(capsys):
    """``datasets show``'s flags come from the source registry, added when it first parses."""
    with pytest.raises(SystemExit) as stop:
        main(["datasets", "show", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    from lossbench.commands.datasets import _source_options

    for name in _source_options():
        assert "--" + name.replace("_", "-") in text
    assert text.index("source options") < text.index("profile and splits")


@pytest.mark.parametrize("argv", [["run", "--workers", "0"], ["tune", "--dataset", "digits",
                                                             "--loss", "focal", "--workers", "0"]])
def test_bad_workers_is_refused_before_heavy_imports(argv):
    found = _fresh(f"""
        import contextlib, io, json, sys
        from lossbench.cli import main
        with contextlib.redirect_stderr(io.StringIO()) as err:
            code = main({argv!r})
        print(json.dumps({{"code": code, "err": err.getvalue(),
                          "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
    """)
    assert found["code"] == 2
    assert found["err"] == "lossbench: error: --workers must be a whole number from 1 to 256, got 0\n"
    assert found["heavy"] == []


@pytest.mark.parametrize("workers", [0, -1, 257, 10**6, True, 2.0])
def test_early_workers_check_matches_the_pipeline(workers):
    from lossbench.commands._options import MAX_WORKERS, check_workers
    from lossbench.errors import UserError
    from lossbench.pipeline import setup

    assert MAX_WORKERS == setup.MAX_WORKERS
    with pytest.raises(UserError) as early:
        check_workers(workers)
    with pytest.raises(UserError) as late:
        setup.check_workers(workers)
    assert str(early.value) == str(late.value)
    for good in (1, MAX_WORKERS):
        check_workers(good)
        setup.check_workers(good)


def test_device_choices_have_one_torch_free_home():
    from lossbench.engine import device, devices

    assert device.DEVICE_CHOICES is devices.DEVICE_CHOICES
    found = _fresh(f"""
        import json, sys
        from lossbench.engine.devices import DEVICE_CHOICES
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
    """)
    assert found == []


# --- the loss zoo answers without torch (its registry is torch-free; the code loads on use) ----

SUITE_HEAD = """
name = "startup"
losses = ["ce", "focal"]
[budget]
trials = 1
epochs = 1
replicates = 1
seeds = 1
[[datasets]]
source = "digits"
profile = "exp"
imbalance_ratio = 10
"""


def _cli_fresh(argv: list[str]) -> dict:
    """``main(argv)`` in a new interpreter: exit code, stdout, stderr and the heavy modules."""
    return _fresh(f"""
        import contextlib, io, json, sys
        from lossbench.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as out, \\
                contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                code = main({argv!r})
            except SystemExit as stop:
                code = stop.code
        print(json.dumps({{"code": code, "out": out.getvalue(), "err": err.getvalue(),
                          "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
    """)


@pytest.mark.parametrize("argv, expected", [
    (["losses"], "gamma [0, 5]"),
    (["losses", "focal"], "parameters (defaults): gamma=2.0, alpha=None, weight=None"),
    (["losses", "ldam", "--json"], '"search_space"'),
])
def test_losses_command_imports_no_heavy_module(argv, expected):
    found = _cli_fresh(argv)
    assert found["code"] == 0 and found["err"] == ""
    assert expected in found["out"]
    assert found["heavy"] == []


def _one_line_error(found: dict, *parts: str) -> None:
    assert found["code"] == 2 and found["out"] == ""
    assert found["err"].startswith("lossbench: error: ") and found["err"].count("\n") == 1
    for part in parts:
        assert part in found["err"]


def test_unknown_loss_of_losses_command_imports_no_heavy_module():
    found = _cli_fresh(["losses", "focl"])
    _one_line_error(found, "unknown loss 'focl'", "Did you mean 'focal'")
    assert found["heavy"] == []


@pytest.mark.parametrize("loss_params, message", [
    ("[loss_params.focal]\ngama = 2.0\n",
     "unknown parameter 'gama' of loss 'focal' in [loss_params.focal] (did you mean 'gamma'?)"),
    ("[loss_params.focal]\ngamma = -1.0\n",
     "[loss_params.focal] gamma must be in [0.0, inf); got -1.0"),
    ('[loss_params.focal]\ngamma = "high"\n',
     "[loss_params.focal] gamma must be a number; got 'high'"),
])
def test_bad_loss_parameter_of_a_suite_is_refused_without_torch(tmp_path, loss_params, message):
    """A suite's losses are checked before its datasets: a misspelt parameter, or a value its
    loss refuses, is one line and exit 2 without torch (the registry's declared bounds are the
    ones the loss modules check with)."""
    suite = tmp_path / "startup.toml"
    suite.write_text(SUITE_HEAD + loss_params, encoding="utf-8")
    found = _cli_fresh(["run", str(suite), "--out", str(tmp_path / "out")])
    _one_line_error(found, message)
    assert "torch" not in found["heavy"]
    assert not (tmp_path / "out").exists()


def test_tune_with_an_unknown_loss_imports_no_torch():
    found = _cli_fresh(["tune", "--dataset", "digits", "--loss", "focall"])
    _one_line_error(found, "unknown loss 'focall' (did you mean 'focal'?)")
    assert "torch" not in found["heavy"]


def test_run_with_an_unknown_loss_imports_no_torch():
    """A name that no loss or baseline has is refused from the torch-free registry, before the
    suite's datasets (and torch) load: exit 2, one line, the nearest name."""
    found = _cli_fresh(["run", "default", "--losses", "focall"])
    _one_line_error(found, "unknown loss for --losses: 'focall' (did you mean 'focal'?)")
    assert "torch" not in found["heavy"]


def test_a_loss_the_suite_does_not_run_is_named_with_the_suite():
    """A registered loss the suite does not run is refused from the suite file's losses, before
    its datasets (and torch) load, naming the suite's losses."""
    found = _cli_fresh(["run", "cifar10-lt-cpu", "--losses", "poly"])
    _one_line_error(found, "unknown loss for --losses (suite 'cifar10-lt-cpu' has): 'poly'")
    assert "torch" not in found["heavy"]


def test_a_loss_a_suite_file_does_not_run_is_refused_without_torch(tmp_path):
    suite = tmp_path / "startup.toml"
    suite.write_text(SUITE_HEAD, encoding="utf-8")
    found = _cli_fresh(["run", str(suite), "--losses", "ce,poly", "--out", str(tmp_path / "o")])
    _one_line_error(found, "unknown loss for --losses (suite 'startup' has): 'poly'; "
                           "allowed: ce, focal")
    assert "torch" not in found["heavy"]
    assert not (tmp_path / "o").exists()
