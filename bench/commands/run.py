"""``lossbench run [SUITE]``: tune every loss, retrain the best over seeds, score, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from lossbench.commands._options import add_liveness_options
from lossbench.engine.device import DEVICE_CHOICES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run a suite end to end: tuning, final runs, report",
        description="Run a suite: one Optuna study per (dataset, loss), the best parameters "
                    "retrained over the suite's seeds and scored on the test split, then the "
                    "report. A rerun resumes: finished trials and stored runs are not redone.")
    parser.add_argument("suite", nargs="?", default="default",
                        help="a packaged suite name (default, mask, …) or a path to a .toml file")
    parser.add_argument("--root", type=Path, default=None,
                        help="data folder for the suite's datasets that take one (mask: the "
                             "folder holding train/images/)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: results/<suite name>)")
    parser.add_argument("--device", default="auto",
                        help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N (default: auto)")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage: sqlite:///PATH, postgresql://USER@HOST/DB (many "
                             "machines) or journal:PATH (several processes, one machine); "
                             "default: $LOSSBENCH_STORAGE, else sqlite <results>/studies.db")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes on this machine: this one and N-1 that only "
                             "tune, all on the same studies (default 1)")
    parser.add_argument("--tune-only", action="store_true",
                        help="only bring every study to its trials (a worker on another "
                             "machine); one run without it does the final runs and the report")
    add_liveness_options(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="decoded-image cache (default: $LOSSBENCH_CACHE or ~/.cache/lossbench)")
    parser.add_argument("--losses", default=None,
                        help="comma-separated subset of the suite's losses (e.g. ce,focal)")
    parser.add_argument("--trials", type=int, default=None, help="override the suite's trials")
    parser.add_argument("--epochs", type=int, default=None, help="override the suite's epochs")
    parser.add_argument("--seeds", type=int, default=None, help="override the suite's seeds")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.add_argument("--no-report", action="store_true", help="store results, skip the report")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from lossbench.config.suite import load_suite
    from lossbench.pipeline.suite_run import RunOptions, run_suite

    overrides = {"root": args.root} if args.root is not None else {}
    losses = [name.strip() for name in args.losses.split(",")] if args.losses else None
    suite = load_suite(args.suite, dataset_options=overrides).with_overrides(
        losses=losses, trials=args.trials, epochs=args.epochs, seeds=args.seeds)
    options = RunOptions(out=args.out, device=args.device, storage=args.storage,
                         threads=args.threads, progress=not args.no_progress,
                         cache_dir=args.cache_dir, report=not args.no_report,
                         workers=args.workers, worker_argv=_helper_argv(args),
                         tune_only=args.tune_only, heartbeat_interval=args.heartbeat_interval,
                         grace_period=args.grace_period)
    root = run_suite(suite, options)
    if args.tune_only:
        print(f"tuning done: every study of suite {suite.name!r} holds its trials")
        return 0
    print(f"results: {root}/" + ("" if args.no_report else f"\nreport: {root}/report.md "
                                 f"and {root}/report.html"))
    return 0


def _helper_argv(args: argparse.Namespace) -> list[str]:
    """The command line of a ``--workers`` helper: the same suite and settings, tuning only (the
    storage URL goes by environment, so a password never shows in the process list)."""
    argv = ["run", args.suite, "--tune-only", "--no-progress", "--no-report",
            "--device", args.device, "--heartbeat-interval", str(args.heartbeat_interval),
            "--grace-period", str(args.grace_period)]
    for flag, value in (("--root", args.root), ("--out", args.out), ("--threads", args.threads),
                        ("--cache-dir", args.cache_dir), ("--losses", args.losses),
                        ("--trials", args.trials), ("--epochs", args.epochs),
                        ("--seeds", args.seeds)):
        if value is not None:
            argv += [flag, str(value)]
    return argv
