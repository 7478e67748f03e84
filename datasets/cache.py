"""The decoded-image cache: uint8 tensors saved once, written atomically, keyed by what they came from.

The directory is a setting: ``cache_dir`` when given, else ``$LOSSBENCH_CACHE``, else the user's cache
directory (``$XDG_CACHE_HOME/lossbench`` or ``~/.cache/lossbench``). A file is written to a temporary
name in the same directory and moved into place with ``os.replace``, so a crash or a bad image never
leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$LOSSBENCH_CACHE``, else ``$XDG_CACHE_HOME/lossbench``, else ``~/.cache/lossbench``."""
    if os.environ.get("LOSSBENCH_CACHE"):
        return Path(os.environ["LOSSBENCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lossbench"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """The cache directory to use (not created until something is written)."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def cache_key(kind: str, **parts: Any) -> str:
    """A file name ``<kind>-<hash>.pt`` from JSON-able parts (paths, sizes, mtimes, settings)."""
    text = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:20]}.pt"


def load_cached(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The cached entry ``key``, or None when absent (an unreadable entry counts as absent)."""
    path = cache_dir / key
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  a damaged entry of any kind is rebuilt, never trusted
        return None


def save_cached(cache_dir: Path, key: str, entry: dict[str, Any]) -> Path:
    """Write ``entry`` atomically (temporary file, then ``os.replace``) and return its path."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(entry, stream)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a cache follows the umask
        os.replace(temporary, cache_dir / key)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return cache_dir / key
