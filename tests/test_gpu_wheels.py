"""``make gpu-wheels`` and ``make gpu-check VENV= PYTHON=...``: an offline GPU host's path.

The host (README, GPU check): Python 3.12 with torch, torchvision, pandas, scikit-learn, scipy,
seaborn, matplotlib, tqdm, tabulate and pytest-benchmark (and what they pull in), no Optuna, no
statsmodels, no network. ``make gpu-wheels`` downloads an explicit ``--no-deps`` list; here the
list is checked to be exactly the dependency closure of what lossbench needs less what the host
has (a resolution against PyPI for cp312 manylinux x86_64; skipped where PyPI is unreachable),
and the Makefile's no-venv path to run with an existing interpreter.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the host has: the packages named, and what they install with them.
HOST_NAMED = ["torch", "torchvision", "pandas", "scikit-learn", "scipy", "seaborn", "matplotlib",
              "tqdm", "tabulate", "pytest-benchmark"]
HOST_PULLED = [
    "numpy", "pillow", "typing-extensions", "jinja2", "markupsafe", "filelock", "sympy",
    "networkx", "fsspec", "python-dateutil", "six", "tzdata", "pytz", "joblib", "threadpoolctl",
    "packaging", "contourpy", "cycler", "fonttools", "kiwisolver", "pyparsing", "pytest",
    "py-cpuinfo", "iniconfig", "pluggy", "setuptools",
]
HOST = {*HOST_NAMED, *HOST_PULLED}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make_n(*args: str) -> str:
    return subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def wheel_command() -> list[str]:
    """The ``pip download`` line ``make gpu-wheels`` runs, as arguments."""
    lines = [line for line in make_n("gpu-wheels").splitlines() if " download " in line]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def wheel_list() -> dict[str, str]:
    """name -> pinned version of every requirement on the download line."""
    pins = [arg for arg in wheel_command() if "==" in arg]
    return {normal(pin.split("==")[0]): pin.split("==")[1] for pin in pins}


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def test_the_download_is_binary_cp312_manylinux_no_deps_into_the_ignored_folder():
    args = wheel_command()
    for flag in ("--only-binary=:all:", "--no-deps"):
        assert flag in args
    pairs = set(itertools.pairwise(args))
    for pair in [("--python-version", "3.12"), ("--implementation", "cp"), ("--abi", "cp312"),
                 ("--platform", "manylinux2014_x86_64"), ("-d", ".whl")]:
        assert pair in pairs, pair
    assert "/.whl/" in (ROOT / ".gitignore").read_text().split()
    # lossbench's own wheel beside them: the package-dir mapping needs an install
    assert "pip wheel --quiet --no-deps --no-build-isolation -w .whl ." in make_n("gpu-wheels")


def test_the_list_covers_every_dependency_the_host_lacks():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {normal(re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0])
              for dep in project["dependencies"]}
    missing = needed - {normal(n) for n in HOST}
    assert missing == {"optuna", "statsmodels"}
    assert missing <= set(wheel_list())


@pytest.mark.skipif(not pypi_reachable(), reason="pypi.org is not reachable from this machine: "
                    "the wheel list cannot be resolved offline")
def test_the_list_is_exactly_the_closure_less_what_the_host_has(tmp_path):
    """Resolve the pinned list with its dependencies for cp312 manylinux x86_64 (metadata only,
    ``pip install --dry-run --report``): every pinned wheel exists, and the closure less the
    host's packages is the list, no more and no less."""
    args = wheel_command()
    tags = args[args.index("--only-binary=:all:"):args.index("-d")]
    tags = [arg for arg in tags if arg not in ("--no-deps", "--quiet")]
    pins = [f"{name}=={version}" for name, version in wheel_list().items()]
    report = tmp_path / "report.json"
    found = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
         "--no-cache-dir", "--report", str(report), "--target", str(tmp_path / "target"),
         *tags, *pins], check=False, capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr[-2000:]
    resolved = {normal(item["metadata"]["name"]): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    for name, version in wheel_list().items():
        assert resolved.get(name) == version, (name, version, resolved.get(name))
    extra = set(resolved) - set(wheel_list()) - {normal(n) for n in HOST}
    assert not extra, f"the host lacks these too: {sorted(extra)}"


def test_gpu_check_without_a_venv_runs_the_interpreter_as_it_is():
    out = "/tmp/gpu-check-out"
    text = make_n("gpu-check", "VENV=", "PYTHON=/opt/py/bin/python3", f"GPU_CHECK_OUT={out}",
                  "GPU_CHECK_ARGS=--dry-run", "CIFAR10=")  # CI exports LOSSBENCH_CIFAR10_JPG
    command = " ".join(text.replace("\\\n", " ").split())
    assert "venv" not in command and "pip" not in command  # nothing created, nothing installed
    assert f"/opt/py/bin/python3 -m lossbench.cli gpu-check --out {out} --dry-run" in command
    for variable in ("LOSSBENCH_CACHE", "MPLCONFIGDIR", "TORCHINDUCTOR_CACHE_DIR",
                     "TRITON_CACHE_DIR"):
        assert re.search(rf"{variable}={out}/cache\b", command), variable
    with_archive = " ".join(make_n("gpu-check", "VENV=", "CIFAR10=/data/c.tar.gz").split())
    assert "--root /data/c.tar.gz" in with_archive
    with_venv = " ".join(make_n("gpu-check", "GPU_CHECK_OUT=x", "CIFAR10=").replace("\\\n", " ").split())
    assert with_venv.startswith(".venv/bin/lossbench gpu-check --out x")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
def test_gpu_check_dry_run_through_make_with_an_existing_interpreter(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSBENCH_CIFAR10_JPG", raising=False)
    out = tmp_path / "gpu-check"
    done = subprocess.run(["make", "--no-print-directory", "gpu-check", "VENV=",
                           f"PYTHON={sys.executable}", "CIFAR10=", f"GPU_CHECK_OUT={out}",
                           "GPU_CHECK_ARGS=--dry-run --budget-s 300"],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "gpu-check.json").read_text())
    assert record["dry_run"] and record["stages"]["recipe"]["status"] == "ok"
    assert (out / "gpu-check.md").exists()
