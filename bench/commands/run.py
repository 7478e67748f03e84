"""``lossbench run [SUITE]``: tune every loss, retrain the best over seeds, score, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from lossbench.device import DEVICE_CHOICES


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
                        help="Optuna storage URL (default: sqlite file <results>/studies.db)")
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
    from lossbench.runner import RunOptions, run_suite
    from lossbench.suite import load_suite

    overrides = {"root": args.root} if args.root is not None else {}
    losses = [name.strip() for name in args.losses.split(",")] if args.losses else None
    suite = load_suite(args.suite, dataset_options=overrides).with_overrides(
        losses=losses, trials=args.trials, epochs=args.epochs, seeds=args.seeds)
    options = RunOptions(out=args.out, device=args.device, storage=args.storage,
                         threads=args.threads, progress=not args.no_progress,
                         cache_dir=args.cache_dir, report=not args.no_report)
    root = run_suite(suite, options)
    print(f"results: {root}/" + ("" if args.no_report else f"\nreport: {root}/report.md "
                                 f"and {root}/report.html"))
    return 0
