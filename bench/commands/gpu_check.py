"""``lossbench gpu-check``: what one GPU shows in about ten minutes, under one output folder.

    lossbench gpu-check --root cifar10-jpg.tar.gz --out results/gpu-check   (make gpu-check)
    lossbench gpu-check --dry-run --out /tmp/gpu-check      (every stage on the CPU, tiny)

Four stages share ``--budget-s``: training throughput (lossbench's loop against a plain
DataLoader loop), whether stacked training is faster (at most a minute), as much of the
CIFAR-10-LT recipe as fits, and the loss timing table on the device. ``gpu-check.json`` and ``gpu-check.md`` record the device, versions, command and every
stage (see ``lossbench.pipeline.gpu_check``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from lossbench.commands._options import add_cache_option

DEFAULT_OUT = Path("results/gpu-check")


def register(subparsers) -> None:
    parser = subparsers.add_parser("gpu-check", help="what one GPU shows in about ten minutes",
                                   description=__doc__.split("\n\n")[0],
                                   epilog=__doc__.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--root", type=Path, default=None,
                        help="CIFAR-10: cifar10-jpg.tar.gz or a train/<class>/ tree (default: "
                             "$LOSSBENCH_CIFAR10_JPG; the dry run makes synthetic images)")
    parser.add_argument("--dry-run", action="store_true",
                        help="run every stage on the CPU at a tiny size")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="seconds for all stages (default 540; dry run 120)")
    parser.add_argument("--device", default=None,
                        help="a device such as cuda or cuda:1 (default cuda; dry run cpu)")
    add_cache_option(parser)
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers of the plain loop (default: min(8, CPUs); "
                             "dry run 0)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of each throughput measurement (default 4; dry run 2)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--timing-s", type=float, default=None,
                        help="seconds the recipe leaves for the timing table (default 90; "
                             "dry run 20)")
    parser.set_defaults(func=run)


def command_line(args: argparse.Namespace) -> str:
    """The command as given (the options that were set), for the record."""
    words = ["lossbench", "gpu-check", "--out", str(args.out)]
    for flag in ("root", "budget_s", "device", "cache_dir", "workers", "epochs", "timing_s"):
        value = getattr(args, flag)
        if value is not None:
            words += ["--" + flag.replace("_", "-"), str(value)]
    words += ["--dry-run"] * args.dry_run + ["--no-compile"] * args.no_compile
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from lossbench.pipeline.gpu_check import check, make_settings

    settings = make_settings(out=args.out, root=args.root, dry_run=args.dry_run,
                             budget_s=args.budget_s, device=args.device,
                             cache_dir=args.cache_dir, workers=args.workers, epochs=args.epochs,
                             compile=not args.no_compile, timing_s=args.timing_s)
    record = check(settings, command_line(args))
    print(f"[gpu-check] done in {record['wall_seconds']} s: {settings.out / 'gpu-check.md'}",
          file=sys.stderr)
    return 0
