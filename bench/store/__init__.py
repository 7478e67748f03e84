"""Stored results: atomic IO (``io``) and the one owner of the results folder (``results``).

The names are loaded on first use, so that reading a suite (``config``, which fingerprints
settings with ``store.io``) does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "atomic_write_bytes": "io", "atomic_write_csv": "io", "atomic_write_json": "io",
    "atomic_write_text": "io", "fingerprint": "io", "safe_name": "io", "to_json": "io",
    "ResultStore": "results", "folder_name": "results", "per_class_frame": "results",
}
__all__ = ["ResultStore", "atomic_write_bytes", "atomic_write_csv", "atomic_write_json",
           "atomic_write_text", "fingerprint", "folder_name", "per_class_frame", "safe_name",
           "to_json"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'lossbench.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lossbench.store.{_HOMES[name]}"), name)
