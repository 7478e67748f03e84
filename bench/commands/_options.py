"""The flags several commands share, declared once."""

from __future__ import annotations

from pathlib import Path

from lossbench.engine.devices import DEVICE_CHOICES  # torch-free: parsers are built without torch
from lossbench.errors import UserError
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
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def add_out_option(parser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: results/<suite name>)")


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
