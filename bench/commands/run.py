"""``lossbench run [SUITE]``: tune every loss, retrain the best over seeds, score, report."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lossbench.commands._options import (
    add_cache_option,
    add_device_options,
    add_out_option,
    add_storage_options,
    check_workers,
)
from lossbench.errors import UserError


def _packaged() -> list[str]:
    """The packaged suites' names, read from the folder (no import of the config room: the
    parser starts without torch)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "config" / "suites"
    return sorted(path.stem for path in folder.glob("*.toml"))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run a suite end to end: tuning, final runs, report",
        description="Run a suite: one Optuna study per (dataset, loss), the best parameters "
                    "retrained over the suite's seeds and scored on the test split, then the "
                    "report. A rerun resumes: finished trials and stored runs are not redone.")
    parser.add_argument("suite", nargs="?", default="default",
                        help="a packaged suite name (" + ", ".join(_packaged()) + ") or a path "
                             "to a .toml file (default: default)")
    parser.add_argument("--root", type=Path, default=None,
                        help="data folder for the suite's datasets that take one (mask: the "
                             "folder holding train/images/)")
    add_out_option(parser)
    add_device_options(parser)
    add_storage_options(parser, default=None, workers_help=(
        "worker processes on this machine: this one and N-1 helpers, each running its share of "
        "the studies from first trial to final runs, so results do not depend on N (default: "
        "one per CPU core, at most 4, on a CPU; 1 on a GPU; $LOSSBENCH_WORKERS overrides)"))
    parser.add_argument("--share", default=None, help=argparse.SUPPRESS)  # K/N: a helper's part
    parser.add_argument("--tune-only", action="store_true",
                        help="only bring every study to its trials (a worker on another "
                             "machine); one run without it does the final runs and the report")
    add_cache_option(parser)
    parser.add_argument("--losses", default=None,
                        help="comma-separated subset of the suite's losses (e.g. ce,focal); "
                             "the baselines run when ce is among them")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated subset of the suite's datasets")
    parser.add_argument("--replicates", type=int, default=None,
                        help="override the suite's replicates")
    parser.add_argument("--seed", type=int, default=None,
                        help="suite seed: shifts every replicate's draws (default: the suite's)")
    parser.add_argument("--trials", type=int, default=None, help="override the suite's trials")
    parser.add_argument("--epochs", type=int, default=None, help="override the suite's epochs")
    parser.add_argument("--seeds", type=int, default=None,
                        help="override the suite's final runs per replicate")
    parser.add_argument("--skip-unbuildable", action="store_true",
                        help="when a dataset of the suite cannot be built (a missing data "
                             "root, a profile that leaves a class with no train rows), run the "
                             "others and list the skipped ones with the reason in the report "
                             "(default: stop before any training, naming the dataset)")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.add_argument("--no-report", action="store_true", help="store results, skip the report")
    parser.set_defaults(func=_run)


def default_workers(device: str) -> int:
    """``$LOSSBENCH_WORKERS`` when set; else one worker per CPU core (at most 4) on a CPU, where
    the suites' small models run one thread each; one on a GPU, which one process keeps busy."""
    from_env = os.environ.get(WORKERS_ENV, "").strip()
    if from_env:
        try:
            return int(from_env)
        except ValueError:
            raise UserError(f"${WORKERS_ENV} must be a whole number, got {from_env!r}") from None
    if device.lower() not in ("auto", "cpu"):
        return 1
    if device.lower() == "auto":
        import torch

        if torch.cuda.is_available():
            return 1
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1)))


WORKERS_ENV = "LOSSBENCH_WORKERS"


def check_budget_flags(args: argparse.Namespace) -> None:
    """``--replicates``, ``--trials``, ``--epochs`` and ``--seeds`` inside the budget's limits,
    the message naming the flag as typed (not the suite key it overrides)."""
    import dataclasses

    from lossbench.config.schema import Budget  # torch-free

    limits = {f.name: f.metadata for f in dataclasses.fields(Budget)}
    for name in ("replicates", "trials", "epochs", "seeds"):
        value, low, high = getattr(args, name), limits[name]["min"], limits[name]["max"]
        if value is not None and value < low:
            raise UserError(f"--{name} must be at least {low}, got {value}")
        if value is not None and value > high:
            raise UserError(f"--{name} must be at most {high}, got {value}")


def _split(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",")] if text else None


def _check_loss_names(names: list[str] | None, suite: str) -> None:
    """``--losses``, before the suite's datasets (and torch) load: a name that is neither a
    registered loss nor a baseline is refused from the torch-free registry, one that the suite
    does not run from the suite file's ``losses`` (``suite_loss_names``), naming them."""
    from lossbench.config.losses import BASELINES, available
    from lossbench.config.suite import suite_loss_names
    from lossbench.errors import unknown_name

    known = [*available(), *BASELINES]
    for name in names or []:
        if name not in known:
            raise unknown_name("loss for --losses:", name, known)
    found = suite_loss_names(suite) if names else None
    if found is not None:
        suite_name, losses = found
        for name in names:
            if name not in losses:
                raise unknown_name(f"loss for --losses (suite {suite_name!r} has):", name, losses)


def _run(args: argparse.Namespace) -> int:
    check_workers(args.workers)  # first: loading a suite imports torch (its losses checked)
    check_budget_flags(args)
    _check_loss_names(_split(args.losses), args.suite)  # before the datasets (and torch) load
    from lossbench.config.suite import load_suite

    overrides = {"root": args.root} if args.root is not None else {}
    suite = load_suite(args.suite, dataset_options=overrides).with_overrides(
        losses=_split(args.losses), datasets=_split(args.datasets), seed=args.seed,
        trials=args.trials, epochs=args.epochs, seeds=args.seeds, replicates=args.replicates)
    workers = args.workers if args.workers is not None else (
        1 if args.tune_only else default_workers(args.device))
    from lossbench.pipeline.shares import Share
    from lossbench.pipeline.suite_run import RunOptions, run_suite  # torch, optuna: now

    options = RunOptions(out=args.out, device=args.device, storage=args.storage,
                         threads=args.threads, progress=not args.no_progress,
                         cache_dir=args.cache_dir, report=not args.no_report,
                         workers=workers, worker_argv=_helper_argv(args),
                         tune_only=args.tune_only, heartbeat_interval=args.heartbeat_interval,
                         grace_period=args.grace_period,
                         skip_unbuildable=args.skip_unbuildable,
                         share=Share.parse(args.share) if args.share else Share())
    root = run_suite(suite, options)
    if args.share:
        return 0  # a helper: its parent says where the results are
    if args.tune_only:
        print(f"tuning done: every study of suite {suite.name!r} holds its trials")
        return 0
    print(f"results: {root}/" + ("" if args.no_report else f"\nreport: {root}/report.md "
                                 f"and {root}/report.html"))
    return 0


def _helper_argv(args: argparse.Namespace) -> list[str]:
    """The command line of a ``--workers`` helper, less its ``--share``: the same suite and
    settings, no progress or report (the storage URL goes by environment, so a password never
    shows in the process list)."""
    from lossbench.pipeline.setup import helper_argv

    return helper_argv(
        ["run", args.suite, "--no-progress", "--no-report", "--workers", "1"],
        {"--tune-only": args.tune_only, "--device": args.device,
         "--heartbeat-interval": args.heartbeat_interval,
         "--grace-period": args.grace_period, "--root": args.root, "--out": args.out,
         "--threads": args.threads, "--cache-dir": args.cache_dir, "--losses": args.losses,
         "--datasets": args.datasets, "--seed": args.seed, "--replicates": args.replicates,
         "--trials": args.trials, "--epochs": args.epochs, "--seeds": args.seeds})
