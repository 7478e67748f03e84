"""The flags several commands share, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path

from lossbench.config.schema import MAX_THREADS  # torch-free
from lossbench.engine.devices import DEVICE_CHOICES  # torch-free: parsers are built without torch
from lossbench.errors import UserError, shown
from lossbench.tuning.storage import GRACE_PERIOD, HEARTBEAT_INTERVAL  # no optuna at import

MAX_WORKERS = 256
"""The most ``--workers``: ``lossbench.pipeline.setup.MAX_WORKERS`` (which imports optuna)."""

STORAGE_HELP = ("Optuna storage: sqlite:///PATH, postgresql://USER@HOST/DB (many machines) or "
                "journal:PATH (several processes, one machine); default: $LOSSBENCH_STORAGE, "
                "else sqlite <results>/studies.db")


def add_device_options(parser, devices=DEVICE_CHOICES) -> None:
    """``--device`` and ``--threads``."""
    parser.add_argument("--device", default="auto",
                        help=f"one of {', '.join(devices)} or cuda:N (default: auto)")
    parser.add_argument("--threads", type=threads_number, default=None,
                        help=f"torch CPU threads, 1 to {MAX_THREADS}")


def threads_number(text: str) -> int:
    """``--threads``: a whole number from 1 to ``MAX_THREADS`` (an argparse type, so a bad value
    is refused before anything is loaded)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_THREADS}, got {shown(text)}")
    return value


def add_out_option(parser) -> None:
    parser.add_argument("--out", type=out_folder, default=None,
                        help="results folder (default: results/<suite name>); made if absent")


def out_folder(text: str) -> Path:
    """``--out``: a folder, made if absent; an existing file (or a path through one) is refused
    at once, before anything is read or written."""
    path = Path(text)
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must name a folder, got {shown(text)}")
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            what = "is" if part == path else f"lies in {shown(str(part))}, which is"
            raise argparse.ArgumentTypeError(
                f"{shown(text)} {what} a file, not a folder; give a folder (made if absent)")
    return path


def add_cache_option(parser) -> None:
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="decoded-image cache (default: $LOSSBENCH_CACHE or ~/.cache/lossbench)")


def add_storage_options(parser, workers_help: str, default: int | None = 1) -> None:
    """``--storage``, ``--workers``, ``--heartbeat-interval`` and ``--grace-period``."""
    parser.add_argument("--storage", default=None, help=STORAGE_HELP)
    parser.add_argument("--workers", type=int, default=default, help=workers_help)
    add_liveness_options(parser)


def add_liveness_options(parser) -> None:
    """``--heartbeat-interval`` and ``--grace-period``, shared by ``lossbench run`` and ``tune``."""
    parser.add_argument("--heartbeat-interval", type=int, default=HEARTBEAT_INTERVAL,
                        help="seconds between heartbeats of a running trial (database storages; "
                             f"default {HEARTBEAT_INTERVAL})")
    parser.add_argument("--grace-period", type=int, default=GRACE_PERIOD,
                        help="seconds without a heartbeat before a trial counts as dead, is "
                             f"failed and retried (default {GRACE_PERIOD})")


def check_workers(workers: int | None) -> None:
    """``--workers`` (None: not given), checked as ``pipeline.setup.check_workers`` does, with the
    same message, but first and without torch or optuna, so the error comes at once."""
    if workers is None:
        return
    if isinstance(workers, bool) or not isinstance(workers, int) \
            or not 1 <= workers <= MAX_WORKERS:
        raise UserError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, "
                        f"got {workers!r}")
