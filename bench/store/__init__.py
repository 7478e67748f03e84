"""Stored results: atomic IO (``io``) and the one owner of the results folder (``results``)."""

from lossbench.store.io import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    fingerprint,
    safe_name,
    to_json,
)
from lossbench.store.results import ResultStore, folder_name, per_class_frame

__all__ = ["ResultStore", "atomic_write_bytes", "atomic_write_csv", "atomic_write_json",
           "atomic_write_text", "fingerprint", "folder_name", "per_class_frame", "safe_name", "to_json"]
