"""The results folder: atomic writes, run records and the tables rebuilt from them.

Layout of ``results/<suite>/``::

    suite.toml            the suite as run          environment.json  versions, device, commit, time
    datasets/<d>.json     splits and sizes          studies.db        Optuna studies (SQLite default)
    trials/<d>/<l>.csv    every trial of a study    runs/<d>/<l>/seed<k>.json  one final run each
    runs.jsonl            all runs, one a line      per_class.csv     per-class test metrics, all runs

Every file is written to a temporary name and renamed into place (``os.replace``), so a killed
process leaves either the old file or the new one, never half of one. One file per final run lets
a rerun skip what is stored and lets many workers write side by side.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
"""What a plain ``open(path, "w")`` would give; mkstemp's 0600 would hide results from others."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, _FILE_MODE)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after it keeps the new file); best effort:
    some file systems cannot sync a folder."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def to_json(value: Any) -> str:
    """Stable JSON (sorted keys; NaN written as null so that every JSON reader accepts it)."""
    return json.dumps(_finite(value), sort_keys=True, indent=1, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, to_json(value) + "\n")


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def fingerprint(value: Any) -> str:
    """A short hash of a JSON-able value: equal settings give equal fingerprints."""
    text = json.dumps(_finite(value), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def safe_name(name: str) -> str:
    """``name`` made safe as one path component."""
    cleaned = re.sub(r"[^A-Za-z0-9._=+-]+", "_", name).strip("._")
    return cleaned or "_"


class ResultStore:
    """Read and write one suite's results folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def write_json(self, relative: str, value: Any) -> None:
        atomic_write_json(self.path(relative), value)

    def read_json(self, relative: str) -> Any:
        return json.loads(self.path(relative).read_text(encoding="utf-8"))

    def run_path(self, dataset: str, loss: str, seed: int) -> Path:
        return self.path("runs", safe_name(dataset), safe_name(loss), f"seed{seed}.json")

    def load_run(self, dataset: str, loss: str, seed: int, expected: str) -> dict | None:
        """The stored run with fingerprint ``expected``; None when absent or made differently."""
        path = self.run_path(dataset, loss, seed)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # cannot happen with atomic writes; rerun rather than trust it
        return record if record.get("fingerprint") == expected else None

    def save_run(self, record: dict) -> None:
        atomic_write_json(self.run_path(record["dataset"], record["loss"], record["seed"]), record)

    def runs(self) -> Iterator[dict]:
        """Every stored run record, in a stable order."""
        for path in sorted(self.path("runs").glob("*/*/seed*.json")):
            yield json.loads(path.read_text(encoding="utf-8"))

    def write_aggregates(self, keep: set[tuple[str, str, int]] | None = None) -> int:
        """Rewrite ``runs.jsonl`` and ``per_class.csv`` from the run files; returns the run count.

        ``keep`` limits them to those (dataset, loss, seed) keys (the current suite's runs).
        """
        records = [r for r in self.runs()
                   if keep is None or (r["dataset"], r["loss"], r["seed"]) in keep]
        lines = [json.dumps(_finite(r), sort_keys=True) for r in records]
        atomic_write_text(self.path("runs.jsonl"), "".join(line + "\n" for line in lines))
        atomic_write_csv(self.path("per_class.csv"), per_class_frame(records))
        return len(records)


def per_class_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (dataset, loss, seed, class) with the test precision, recall, F1, support."""
    rows = []
    for record in records:
        test = record.get("test")
        if not test:
            continue
        per_class = test["per_class"]
        for index, name in enumerate(record["class_names"]):
            rows.append({"dataset": record["dataset"], "loss": record["loss"],
                         "seed": record["seed"], "class_index": index, "class_name": name,
                         "train_count": record["train_counts"][index],
                         "group": per_class["group"][index],
                         "precision": per_class["precision"][index],
                         "recall": per_class["recall"][index], "f1": per_class["f1"][index],
                         "support": per_class["support"][index]})
    columns = ["dataset", "loss", "seed", "class_index", "class_name", "train_count", "group",
               "precision", "recall", "f1", "support"]
    return pd.DataFrame(rows, columns=columns)


def redact(url: str) -> str:
    """A storage URL with its password replaced by ``***`` (safe to print, log and store).

    The user-info ends at the last ``@`` before the host, so a raw ``@`` or ``/`` inside the
    password is masked too; a ``password=`` query parameter (libpq's) is masked as well.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            rest = f"{user}:***@{rest[at + 1:]}"
        url = f"{scheme}{sep}{rest}"
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)
