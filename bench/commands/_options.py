"""The flags several commands share, declared once."""

from __future__ import annotations

from pathlib import Path

from lossbench.engine.device import DEVICE_CHOICES
from lossbench.tuning.storage import GRACE_PERIOD, HEARTBEAT_INTERVAL

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
