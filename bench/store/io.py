"""Atomic file IO: a killed process leaves the old file or the new one, never half of one.

Every file is written to a temporary name in the same folder and renamed into place
(``os.replace``), then the folder is synced. JSON is stable (sorted keys, NaN as null);
``fingerprint`` hashes settings; ``safe_name`` makes a name one path component.

A failed write (a full disk, a read-only folder) raises the ``OSError`` with the path the caller
gave: the file being written, or the folder it goes in when the temporary file cannot even be made
there; never the temporary file's name, which means nothing to the user.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas costs 0.4 s to import; the command line reads suites without it
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
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
    except OSError as error:  # a read-only or full folder: name the folder, not a temporary file
        raise _named(error, path.parent) from None
    try:
        os.fchmod(handle, _FILE_MODE)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _named(error, path) from None
        raise
    _sync_folder(path.parent)


def _named(error: OSError, path: Path) -> OSError:
    """``error`` (same type and errno, so callers can still tell a full disk from a read-only
    folder) carrying ``path`` instead of a temporary file's name."""
    if error.errno is None:
        return error
    try:
        return type(error)(error.errno, error.strerror, str(path))
    except TypeError:  # an OSError subclass with another signature: keep it as it is
        return error


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
