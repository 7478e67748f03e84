"""``lossbench tune``: tune one loss on one dataset with Optuna; resumable, any Optuna storage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lossbench.commands._options import (
    add_cache_option,
    add_device_options,
    add_out_option,
    add_storage_options,
    check_workers,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tune", help="tune one loss on one dataset with Optuna (prints the best parameters)",
        description="Bring one Optuna study to --trials finished (complete or pruned) trials: a "
                    "rerun runs only the missing ones. Prints the best parameters and writes the "
                    "slice plot (validation macro-F1 against each parameter).")
    parser.add_argument("--dataset", required=True,
                        help="a dataset of the suite (e.g. digits-exp20); a source name alone "
                             "(digits, gaussian, mask) is the suite's first dataset of that "
                             "source; with --profile/--imbalance-ratio, a dataset made from them")
    parser.add_argument("--loss", required=True, help="a registered loss (lossbench losses)")
    parser.add_argument("--trials", type=int, default=None,
                        help="finished trials the study should hold (default: the suite's)")
    parser.add_argument("--profile", default=None, help="long-tail profile: exp, step, pareto, "
                                                        "natural, scarce")
    parser.add_argument("--imbalance-ratio", type=float, default=None,
                        help="largest / smallest train class for exp, step, pareto")
    parser.add_argument("--root", type=Path, default=None, help="data folder (mask source)")
    parser.add_argument("--suite", default="default",
                        help="suite whose budget, model and optimiser to use (default: default)")
    parser.add_argument("--epochs", type=int, default=None, help="override the suite's epochs")
    parser.add_argument("--study", default=None, help="study name (default: derived from suite, "
                                                      "dataset, loss and settings)")
    parser.add_argument("--replicate", type=int, default=0,
                        help="the suite's replicate whose study to tune (its data draw and "
                             "seeds; default 0)")
    add_storage_options(parser, "worker processes on this machine, all on the one study "
                                "(default 1)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_out_option(parser)
    add_device_options(parser)
    add_cache_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.set_defaults(func=_run)


def _value(value) -> str:
    """A parameter at a readable precision: 3 significant digits for floats."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _run(args: argparse.Namespace) -> int:
    check_workers(args.workers)  # first, as in ``lossbench run``: before torch and optuna
    from lossbench.config.losses import resolve_losses

    resolve_losses([args.loss])  # a misspelt loss answered at once (the registry is torch-free)
    from lossbench.pipeline.tune_one import TuneRequest, tune_single
    from lossbench.tuning.study import NoCompleteTrial

    request = TuneRequest(
        dataset=args.dataset, loss=args.loss, trials=args.trials, suite=args.suite,
        profile=args.profile, imbalance_ratio=args.imbalance_ratio, root=args.root,
        epochs=args.epochs, storage=args.storage, study=args.study, out=args.out,
        device=args.device, threads=args.threads, cache_dir=args.cache_dir,
        progress=not args.no_progress, workers=args.workers,
        heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period,
        replicate=args.replicate, worker=args.worker)
    try:
        result = tune_single(request)
    except NoCompleteTrial as error:  # a result, not bad input: exit 1
        print(f"lossbench: tuning failed: {error}", file=sys.stderr)
        return 1
    if args.worker:
        return 0
    failed = f", {result['failed']} failed" if result["failed"] else ""
    here = f" by this process of {result['workers']} workers" if result["workers"] > 1 else ""
    print(f"study {result['study']!r} ({result['storage']}): {result['finished']} finished "
          f"trials ({result['pruned']} pruned{failed}), {result['ran']} run now{here}")
    print(f"best validation macro-F1 {result['best_value']:.4f} (trial {result['best_trial']}; "
          f"{result['val_rows']} validation rows, noise about ±{result['noise']:.3f}):")
    for name, value in result["best_params"].items():
        line = f"  {name} = {_value(value)}"
        if name in result["spread"] and result["within_noise"] > 1:
            low, high = result["spread"][name]
            line += f"   ({_value(low)} to {_value(high)} among the {result['within_noise']} " \
                    "trials within the noise of the best)"
        if name in result["at_bound"]:
            end, low, high = result["at_bound"][name]
            line += (f"   (at the {end} bound of its range [{low:g}, {high:g}]: the best may lie "
                     "outside it; widen the range)")
        print(line)
    print(f"top {len(result['top'])} complete trials:")
    for trial in result["top"]:
        params = ", ".join(f"{k}={_value(v)}" for k, v in trial["params"].items())
        print(f"  trial {trial['number']:>3}  {trial['value']:.4f}  {params}")
    if result["run_trial"] is not None and result["run_trial"] != result["best_trial"]:
        print(f"note: `lossbench run` retrains trial {result['run_trial']}, the best of the "
              f"suite's first {result['budget_trials']} finished trials (every loss gets the "
              f"same budget); trial {result['best_trial']} lies beyond that budget")
    print(f"slice plot: {result['slice_plot']}")
    print(f"trials: {result['trials_csv']}")
    for problem in result["worker_problems"]:
        print(f"lossbench: {problem}", file=sys.stderr)
    return 1 if result["worker_problems"] else 0
