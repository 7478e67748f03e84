"""The results folder of one suite: ``ResultStore`` owns every path under ``results/<suite>/``.

Layout::

    suite.toml, suite.json        the suite as run       environment.json  versions, device, time
    datasets/<d>.json             splits and sizes       studies.db        Optuna studies (SQLite)
    trials/<d>/<l>/r<r>.csv       every trial of the study of replicate r (and r<r>.json: the chosen)
    runs/<d>/<l>/r<r>-seed<k>.json   one final run each: the source of truth for the report
    runs.jsonl, per_class.csv     every run, one a line / per-class test metrics (summaries)
    verdict.json                  per dataset: the choice, the tied set, each loss's category
    report.md, report.html, tables/*.csv, figures/*.png

One file per final run lets a rerun skip what is stored and lets many workers write side by side.
Names of datasets and losses become folder names through ``folder_name`` (never two names in one
folder).

Every file is checked as it is read: one that is not valid JSON or CSV, is cut short, or (a run
record) lacks what the report reads is a ``DamagedFile`` error that names the file and says what to
do (remove it and rerun ``lossbench run``, which writes it again or retrains that run; or rerun
``lossbench report``), never a parser's bare "Expecting ',' delimiter" or a NaN far downstream.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from lossbench.store.io import (
    _finite,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    safe_name,
)


def folder_name(name: str) -> str:
    """``name`` as one path component; a name that is not already safe gets a short hash of
    itself, so two names that clean to the same text ("digits ρ≥10", "digits ρ<10") never
    share a folder."""
    cleaned = safe_name(name)
    if cleaned == name:
        return cleaned
    return f"{cleaned}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


class DamagedFile(ValueError):
    """A file of a results folder that cannot be trusted; the message names it and what to do.
    (A ``ValueError``: the command line prints it as one line, exit status 2; the store imports
    nothing of lossbench, so not a ``UserError``.)"""


RERUN = "remove it and rerun 'lossbench run' with the same suite and --out"
_ADVICE = {
    "runs": f"{RERUN} (that final run is retrained)",
    "trials": f"{RERUN} (it is written again from the study; finished trials are kept)",
    "datasets": f"{RERUN} (it is written again; stored runs are kept)",
    "suite.json": f"{RERUN} (it is written again; stored runs are kept)",
    "environment.json": f"{RERUN} (it is written again; stored runs are kept)",
    "skipped.json": f"{RERUN} (it is written again; stored runs are kept)",
}
_ELSEWHERE = "cut short, or written from another study"
"""Why a trials table disagrees with its chosen-trial record: a file cut at a line boundary, or
one ``lossbench tune`` with other settings wrote over (rerunning ``lossbench run`` rewrites it)."""
_REPORT_FILES = ("verdict.json", "report.md", "report.html", "tables", "figures")
"""What ``lossbench report`` writes: a damaged one is written again by rerunning it."""


REFERENCE = "reference"
"""``results/reference/`` holds the committed canonical results; ``make bench`` writes beside it."""


class ResultStore:
    """Read and write one suite's results folder: the only place its paths are spelled."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    # ---------------------------------------------------------------- the files of the folder
    suite_toml = property(lambda self: self.path("suite.toml"))
    suite_json = property(lambda self: self.path("suite.json"))
    environment_json = property(lambda self: self.path("environment.json"))
    verdict_json = property(lambda self: self.path("verdict.json"))
    runs_jsonl = property(lambda self: self.path("runs.jsonl"))
    per_class_csv = property(lambda self: self.path("per_class.csv"))
    report_md = property(lambda self: self.path("report.md"))
    report_html = property(lambda self: self.path("report.html"))

    @property
    def reference_root(self) -> Path | None:
        """Where the committed reference of this suite lives: ``results/reference/<suite>/``
        beside ``results/<suite>/`` (None for a folder that is itself under ``reference/``)."""
        if self.root.resolve().parent.name == REFERENCE:
            return None
        return self.root.parent / REFERENCE / self.root.name

    def studies_url(self) -> str:
        """The default SQLite study file, ``<results>/studies.db`` (relative paths stay
        relative, so no home folder ends up in a committed report); the folder is made."""
        self.root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.path('studies.db').as_posix()}"

    def dataset_json(self, dataset: str) -> Path:
        return self.path("datasets", f"{folder_name(dataset)}.json")

    def trials_csv(self, dataset: str, loss: str, replicate: int) -> Path:
        return self.path("trials", folder_name(dataset), folder_name(loss), f"r{replicate}.csv")

    def chosen_json(self, dataset: str, loss: str, replicate: int) -> Path:
        return self.path("trials", folder_name(dataset), folder_name(loss), f"r{replicate}.json")

    def run_path(self, dataset: str, loss: str, replicate: int, seed: int) -> Path:
        return self.path("runs", folder_name(dataset), folder_name(loss),
                         f"r{replicate}-seed{seed}.json")

    def table_csv(self, name: str) -> Path:
        return self.path("tables", f"{folder_name(name)}.csv")

    def figure_png(self, name: str) -> Path:
        return self.path("figures", f"{folder_name(name)}.png")

    def slice_png(self, dataset: str, loss: str) -> Path:
        return self.figure_png(f"slice_{safe_name(dataset)}_{safe_name(loss)}")

    def relative(self, path: Path) -> str:
        """``path`` relative to the results folder (as the report links it)."""
        return Path(path).relative_to(self.root).as_posix()

    # ---------------------------------------------------------------- reading and writing
    def write_json(self, path: Path | str, value: Any) -> None:
        atomic_write_json(self.path(path) if isinstance(path, str) else path, value)

    def read_json(self, path: Path | str, default: Any = None) -> Any:
        """The JSON at ``path``; ``default`` when the file is absent (None: an error). A file
        that is not JSON is a ``DamagedFile`` naming it; so is one whose value is not of
        ``default``'s type."""
        path = self.path(path) if isinstance(path, str) else Path(path)
        if default is not None and not path.is_file():
            return default
        value = self._json(path)
        if default is not None and not isinstance(value, type(default)):
            raise self.damaged(path, f"it holds a JSON {type(value).__name__}, not a "
                                     f"{type(default).__name__}")
        return value

    def _json(self, path: Path) -> Any:
        """The JSON at ``path``, or a ``DamagedFile`` saying why it cannot be read."""
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            raise self.damaged(path, f"not UTF-8 text at byte {error.start}") from None
        except json.JSONDecodeError as error:
            raise self.damaged(path, f"not valid JSON: {error}") from None

    def damaged(self, path: Path, why: str) -> DamagedFile:
        """The error for ``path`` of this folder: what is wrong and what to do."""
        try:
            head = Path(path).relative_to(self.root).parts[0]
        except (ValueError, IndexError):
            head = ""
        if head in _ADVICE:
            advice = _ADVICE[head]
        elif head in _REPORT_FILES:
            advice = f"rerun 'lossbench report {self.root}'"
        else:
            advice = "restore it from a copy, or remove it"
        return DamagedFile(f"{path} is damaged ({why}): {advice}")

    def write_csv(self, path: Path, frame: pd.DataFrame) -> None:
        atomic_write_csv(path, frame)

    def write_text(self, path: Path, text: str) -> None:
        atomic_write_text(path, text)

    def load_run(self, dataset: str, loss: str, replicate: int, seed: int,
                 expected: str) -> dict | None:
        """The stored run with fingerprint ``expected``; None when absent or made differently."""
        path = self.run_path(dataset, loss, replicate, seed)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None  # cannot happen with atomic writes; rerun rather than trust it
        if not isinstance(record, dict) or record.get("fingerprint") != expected \
                or run_problem(record) is not None:
            return None
        return record

    def save_run(self, record: dict) -> None:
        atomic_write_json(self.run_path(record["dataset"], record["loss"], record["replicate"],
                                        record["seed"]), record)

    def runs(self) -> Iterator[dict]:
        """Every stored run record (the source of truth), in a stable order; a file that is not
        a whole run record, or that lies where another run belongs, is a ``DamagedFile``."""
        for path in sorted(self.path("runs").glob("*/*/r*-seed*.json")):
            record = self._json(path)
            problem = run_problem(record)
            if problem is None:
                place = self.run_path(record["dataset"], record["loss"],
                                      record.get("replicate", 0), record["seed"])
                if place != path:
                    problem = f"it holds the run that belongs in {self.relative(place)}"
            if problem is not None:
                raise self.damaged(path, problem)
            yield record

    def datasets(self) -> dict[str, dict]:
        """The protocol record of every dataset, by dataset name."""
        records = []
        for path in sorted(self.path("datasets").glob("*.json")):
            record = self._json(path)
            if not isinstance(record, dict):
                raise self.damaged(path, "not a JSON object")
            records.append(record)
        return {record["name"]: record for record in records if "name" in record}

    def chosen(self, dataset: str, loss: str) -> dict[int, dict]:
        """The chosen trial of every replicate's study of (dataset, loss)."""
        folder = self.chosen_json(dataset, loss, 0).parent
        out = {}
        for path in sorted(folder.glob("r*.json")):
            if _replicate(path) is None:
                continue  # not a chosen-trial file
            record = self._json(path)
            replicate = record.get("replicate", _replicate(path)) \
                if isinstance(record, dict) else None
            if isinstance(replicate, bool) or not isinstance(replicate, int):
                raise self.damaged(path, "not a JSON object with a whole-number 'replicate'")
            out[replicate] = record
        return out

    def trials(self, dataset: str, loss: str) -> pd.DataFrame:
        """Every trial of every replicate's study of (dataset, loss), with a ``replicate``
        column. A file cut short (its last line unfinished), not CSV, or without whole trial
        numbers and states is a ``DamagedFile``; so is one that disagrees with the chosen-trial
        record beside it (``r<r>.json``, written after it from the same study): fewer finished
        trials than the record's budget ``trials``, or no COMPLETE row of its chosen ``trial``
        (a file cut exactly at a line boundary looks whole otherwise)."""
        folder = self.trials_csv(dataset, loss, 0).parent
        frames = []
        for path in sorted(folder.glob("r*.csv")):
            if _replicate(path) is None:
                continue  # not a trials file
            frame = self._trials_file(path)
            self._check_against_chosen(path, frame)
            if frame is not None:
                frame.insert(0, "replicate", _replicate(path))
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _trials_file(self, path: Path) -> pd.DataFrame | None:
        """One study's trials table (None: a study without trials)."""
        import io

        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise self.damaged(path, f"not UTF-8 text at byte {error.start}") from None
        if not text.strip():
            return None
        if not text.endswith("\n"):
            raise self.damaged(path, "its last line is cut short")
        try:
            frame = pd.read_csv(io.StringIO(text))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
            raise self.damaged(path, f"not a CSV table: {str(error).strip()}") from None
        if not len(frame):
            return None
        missing = [column for column in ("number", "state") if column not in frame]
        if missing:
            raise self.damaged(path, f"no column {', '.join(missing)}")
        numbers = pd.to_numeric(frame["number"], errors="coerce")
        if numbers.isna().any() or (numbers % 1 != 0).any() \
                or frame["state"].isna().any():
            row = int((numbers.isna() | (numbers % 1 != 0) | frame["state"].isna()).argmax())
            raise self.damaged(path, f"row {row + 2} has no whole trial number or no state")
        frame["number"] = numbers.astype(int)
        return frame

    def _check_against_chosen(self, path: Path, frame: pd.DataFrame | None) -> None:
        """``path``'s trials (``frame``; None: none) hold what its chosen-trial record says the
        study had: at least the budget's finished (COMPLETE or PRUNED) trials, and the chosen
        trial as a COMPLETE row. No record (none written yet, or ``lossbench tune`` alone), or
        one without those numbers, checks nothing; a record that is not JSON is left to
        ``chosen``, which names it."""
        record_path = path.with_suffix(".json")
        if not record_path.is_file():
            return
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if not isinstance(record, dict):
            return
        budget, chosen = record.get("trials"), record.get("trial")
        states = frame["state"].astype(str) if frame is not None else pd.Series(dtype=str)
        if _whole(budget) and budget > 0:
            finished = int(states.isin(("COMPLETE", "PRUNED")).sum())
            if finished < budget:
                raise self.damaged(path, f"{finished} finished trial"
                                         f"{'' if finished == 1 else 's'}, fewer than the "
                                         f"{budget} that {self.relative(record_path)} records "
                                         f"for its study: {_ELSEWHERE}")
        if _whole(chosen):
            numbers = frame["number"] if frame is not None else pd.Series(dtype=int)
            if not ((numbers == chosen) & (states == "COMPLETE")).any():
                raise self.damaged(path, f"no COMPLETE row of trial {chosen}, which "
                                         f"{self.relative(record_path)} records as chosen: "
                                         f"{_ELSEWHERE}")

    def write_aggregates(self) -> int:
        """Rewrite ``runs.jsonl`` and ``per_class.csv`` from every run file; returns the run
        count. They summarise the folder, never one invocation, so a subset run (``--losses``)
        adds to a finished suite and removes nothing."""
        records = list(self.runs())
        lines = [json.dumps(_finite(r), sort_keys=True) for r in records]
        atomic_write_text(self.runs_jsonl, "".join(line + "\n" for line in lines))
        atomic_write_csv(self.per_class_csv, per_class_frame(records))
        return len(records)

    # ---------------------------------------------------------------- datasets a run skipped
    skipped_json = property(lambda self: self.path("skipped.json"))

    def skipped(self) -> dict[str, str]:
        """The datasets ``lossbench run --skip-unbuildable`` could not build: name -> why."""
        return dict(self.read_json(self.skipped_json, default={}))

    def write_skipped(self, checked: list[str], skipped: dict[str, str]) -> None:
        """Record a run's skipped datasets (name -> why). Of the datasets the run ``checked``,
        one that was built leaves the file; those of earlier runs that it did not check stay;
        no file when none is left."""
        kept = {name: why for name, why in self.skipped().items() if name not in checked}
        kept.update(skipped)
        if kept:
            atomic_write_json(self.skipped_json, kept)
        elif self.skipped_json.is_file():
            self.skipped_json.unlink()


def _whole(value: Any) -> bool:
    """``value`` is a whole number (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _replicate(path: Path) -> int | None:
    """The replicate of ``trials/<d>/<l>/r<r>.{csv,json}`` from its name (None: not a number)."""
    digits = path.stem[1:]
    return int(digits) if digits.isdigit() else None


_PER_CLASS = ("precision", "recall", "f1", "support", "group")


def run_problem(record: Any) -> str | None:
    """What makes ``record`` not a whole run record (None: nothing): the keys the report reads,
    with their types, and per-class lists of one entry per class."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kind in (("dataset", str), ("loss", str), ("seed", int), ("status", str),
                      ("replicate", int)):
        value = record.get(key, 0 if key == "replicate" else None)
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"no {'whole number' if kind is int else 'text'} {key!r}"
    test = record.get("test")
    if not test:
        return None
    names, counts = record.get("class_names"), record.get("train_counts")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return "no list of class names"
    size = len(names)
    if not _numbers(counts, size, whole=True):
        return f"train_counts is not {size} whole numbers"
    if not isinstance(test, dict) or not isinstance(test.get("summary"), dict) \
            or not isinstance(test.get("per_class"), dict):
        return "its test scores have no summary or per-class table"
    if not all(value is None or _number(value) for value in test["summary"].values()):
        return "its test summary holds a value that is not a number"
    per_class = test["per_class"]
    for key in _PER_CLASS:
        values = per_class.get(key)
        if key == "group":
            fine = isinstance(values, list) and len(values) == size \
                and all(isinstance(v, str) for v in values)
        else:
            fine = _numbers(values, size, whole=key == "support", missing=key != "support")
        if not fine:
            return f"per_class.{key} is not {size} {'whole numbers' if key == 'support' else 'values'}"
    confusion = test.get("confusion")
    if confusion is not None and not (isinstance(confusion, list) and len(confusion) == size
                                      and all(_numbers(row, size) for row in confusion)):
        return f"its confusion matrix is not {size} x {size} numbers"
    calibration = test.get("calibration")
    if calibration is not None and not (
            isinstance(calibration, dict) and all(isinstance(v, list) for v in calibration.values())
            and len({len(v) for v in calibration.values()}) <= 1
            and all(_numbers(v, len(v)) for v in calibration.values())):
        return "its calibration bins are not lists of numbers of one length"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _numbers(values: Any, size: int, whole: bool = False, missing: bool = False) -> bool:
    """``values`` is a list of ``size`` finite numbers (whole ones if ``whole``; None allowed if
    ``missing``: NaN is stored as null)."""
    return isinstance(values, list) and len(values) == size and all(
        (missing and value is None)
        or (_number(value) and (not whole or float(value).is_integer())) for value in values)


def per_class_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (dataset, loss, replicate, seed, class) with the test precision, recall, F1, support."""
    rows = []
    for record in records:
        test = record.get("test")
        if not test:
            continue
        per_class = test["per_class"]
        for index, name in enumerate(record["class_names"]):
            rows.append({"dataset": record["dataset"], "loss": record["loss"],
                         "replicate": record.get("replicate", 0), "seed": record["seed"], "class_index": index, "class_name": name,
                         "train_count": record["train_counts"][index],
                         "group": per_class["group"][index],
                         "precision": per_class["precision"][index],
                         "recall": per_class["recall"][index], "f1": per_class["f1"][index],
                         "support": per_class["support"][index]})
    columns = ["dataset", "loss", "replicate", "seed", "class_index", "class_name", "train_count", "group",
               "precision", "recall", "f1", "support"]
    return pd.DataFrame(rows, columns=columns)
