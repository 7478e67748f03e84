"""The import rules of ARCHITECTURE.md, read from the source: imports go down the data flow only.

``check_tree(root)`` parses every module of the three folders (``bench/`` = ``lossbench``,
``losses/`` = ``lossbench.losses``, ``datasets/`` = ``lossbench.datasets``), imports inside
functions included, and returns every import that a rule forbids. The tests run it on the
repository (no violation) and on a copy with a forbidden import added (caught).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"bench": "lossbench", "losses": "lossbench.losses", "datasets": "lossbench.datasets"}

# room -> the rooms it may import (besides itself). A room is a sub-package of lossbench
# (config, engine, …) or a top-level module (errors, redaction, progress, signals,
# environment, cli).
FOUNDATION = {"errors", "redaction", "progress", "signals"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "redaction": set(), "progress": set(), "signals": set(),
    "losses": {"errors"},                      # the zoo knows nothing of the runner
    "datasets": {"errors"},                    # data knows nothing of training
    "store": set(),                            # files only: no torch, no Optuna
    "config": {"errors", "losses", "datasets", "store"},
    "engine": {"errors", "losses", "config"},  # one training run: no Optuna, no files
    "environment": {"engine"},
    "tuning": FOUNDATION | {"config", "engine", "store"},
    "evaluation": FOUNDATION | {"config", "engine"},
    "timing": FOUNDATION | {"losses", "datasets", "engine", "environment", "store"},
    "report": FOUNDATION | {"store", "evaluation.stats", "timing.files"},
    "pipeline": FOUNDATION | {"losses", "datasets", "store", "config", "engine", "environment",
                              "tuning", "evaluation", "timing", "report"},
    "commands": FOUNDATION | {"losses", "datasets", "store", "config", "engine", "environment",
                              "tuning", "evaluation", "timing", "report", "pipeline"},
    "cli": FOUNDATION | {"commands"},
    "lossbench": set(),
}
RESTRICTED_ROOMS = {"report": ("evaluation", "timing")}
"""Rooms that may import only the named modules of these rooms (not the whole room)."""
TEST_FIELDS = ("x_test", "y_test", "oracle_test_pred", "groups_test")
TEST_READERS = ("evaluation", "datasets")
"""Only the final evaluation reads the test split (datasets make it)."""


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "lossbench"


def modules(root: Path):
    """(file, module name) of every module of the three folders under ``root``."""
    for folder, package in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root / folder).with_suffix("")
            name = ".".join([package, *relative.parts]).removesuffix(".__init__")
            yield path, name


def imported(tree: ast.AST, module: str) -> set[str]:
    """Every lossbench module ``tree`` imports, at any depth (relative imports resolved)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lossbench")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "lossbench":
                found |= {f"lossbench.{a.name}" for a in node.names}
            elif target.startswith("lossbench"):
                found.add(target)
    return found


def allowed(source_room: str, target: str) -> bool:
    target_room = room_of(target)
    if target_room == source_room:
        return True
    rules = ALLOWED[source_room]
    if target_room in RESTRICTED_ROOMS.get(source_room, ()):
        rest = target.split(".", 1)[1]
        return any(rest == rule or rest.startswith(rule + ".") for rule in rules)
    return target_room in rules


def check_tree(root: Path) -> list[str]:
    """Every forbidden import and every read of the test split outside evaluation."""
    problems = []
    for path, module in modules(root):
        source_room = room_of(module)
        if source_room not in ALLOWED:
            problems.append(f"{module}: room {source_room!r} is not in ARCHITECTURE.md's rules")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in sorted(imported(tree, module)):
            if not allowed(source_room, target):
                problems.append(f"{module} imports {target} ({source_room} -> "
                                f"{room_of(target)} is not allowed)")
        if source_room not in TEST_READERS:
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in TEST_FIELDS:
                    problems.append(f"{module}:{node.lineno} reads the test split "
                                    f"(.{node.attr}) outside evaluation")
    return problems


def test_the_repository_keeps_the_import_rules():
    assert check_tree(ROOT) == []


@pytest.fixture
def copy(tmp_path) -> Path:
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.mark.parametrize(("file", "line", "expected"), [
    ("losses/focal.py", "from lossbench.tuning import study", "lossbench.losses.focal imports"),
    ("datasets/digits.py", "from lossbench.engine.train import train", "datasets -> engine"),
    ("bench/engine/train.py", "import lossbench.tuning.study", "engine -> tuning"),
    ("bench/report/tables.py", "from lossbench.timing import measure", "report -> timing"),
    ("bench/evaluation/final.py", "from lossbench.tuning.study import best_params",
     "evaluation -> tuning"),
    ("bench/tuning/trials.py", "    x = prepared.x_test", "reads the test split"),
])
def test_a_forbidden_import_is_caught(copy, file, line, expected):
    path = copy / file
    text = path.read_text(encoding="utf-8")
    if line.startswith("    "):  # a statement inside a function
        text += f"\n\ndef _probe(prepared):\n{line}\n"
    else:
        text += f"\n{line}\n"
    path.write_text(text, encoding="utf-8")
    problems = check_tree(copy)
    assert any(expected in problem for problem in problems), problems


def test_the_report_reads_without_torch():
    import subprocess
    import sys

    code = ("import sys, lossbench.report.load, lossbench.report.tables, lossbench.report.verdict, "
            "lossbench.report.timing; print('torch' in sys.modules, 'optuna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
