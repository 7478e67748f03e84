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
