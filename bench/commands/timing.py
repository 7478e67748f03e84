"""``lossbench timing``: forward+backward time of every loss against native cross-entropy.

    lossbench timing                                   # 256x18, 1024x100, 8192x1000; CPU (+ CUDA)
    lossbench timing --shapes 256x18 --threads 1 --device cpu --out /tmp/timing
    lossbench timing --losses focal,soft_f1 --rounds 50
    lossbench timing --harness --threads 1             # the harness around the training, not losses

Prints the table and writes ``timing-<device>.json``, ``.md`` and ``.png`` under ``--out``.
With ``--harness`` it times instead, side by side on a suite's first dataset (``--suite``,
default ``default``): (a) a bare PyTorch training loop, (b) lossbench's ``train()`` of the same
recipe, (c) one more Optuna trial on the default storage (SQLite) and (d) on a journal file;
prints each as a ratio to (a) and writes ``harness-<device>.json`` and ``.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lossbench.errors import UserError

DEFAULT_OUT = "results/timing"
DEFAULT_ROUNDS, HARNESS_ROUNDS = 25, 10


def register(subparsers) -> None:
    parser = subparsers.add_parser("timing", help="time every loss against native cross-entropy",
                                   description=__doc__.split("\n\n")[0],
                                   epilog=__doc__.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="256x18,1024x100,8192x1000",
                        help="comma-separated ROWSxCLASSES (default 256x18,1024x100,8192x1000)")
    parser.add_argument("--device", default="auto",
                        help="auto (the CPU, and CUDA when present), cpu or cuda (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice; with --harness the "
                             "suite's)")
    parser.add_argument("--losses", default=None,
                        help="comma-separated loss names (default: every registered loss)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds; times are medians over them (default "
                             f"{DEFAULT_ROUNDS}; {HARNESS_ROUNDS} with --harness)")
    parser.add_argument("--block-ms", type=float, default=5.0,
                        help="length of one timed block in milliseconds (default 5)")
    parser.add_argument("--no-plain", action="store_true",
                        help="skip the plain autograd formulations")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the profiler's columns (peak memory, ATen calls, allocations)")
    parser.add_argument("--logits", choices=("uniform", "normal"), default="uniform",
                        help="logits the table feeds: uniform in [-1, 1] (default; cosine-like, "
                             "what LDAM's cosine head gives) or normal, N(0, 1) (LDAM's s·z then "
                             "underflows exp)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    harness = parser.add_argument_group("harness benchmark")
    harness.add_argument("--harness", action="store_true",
                         help="time the harness instead of the losses: (a) a bare PyTorch loop, "
                              "(b) lossbench's train(), (c) an Optuna trial on SQLite, (d) on a "
                              "journal file, each as a ratio to (a)")
    harness.add_argument("--suite", default="default",
                         help="suite whose first dataset and recipe --harness runs (default "
                              "default)")
    harness.add_argument("--datasets", default=None, metavar="all|NAME[,NAME]",
                         help="--harness on these datasets of the suite, one table row each "
                              "(default: its first dataset only)")
    harness.add_argument("--epochs", type=int, default=None,
                         help="epochs of each run under --harness (default: the suite's)")
    parser.set_defaults(func=run)


def parse_shape(text: str) -> tuple[int, int]:
    """``"256x18"`` -> (256, 18): rows (batch size) by classes (at least 2)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        rows, classes = (int(part) for part in parts)
    except ValueError:
        raise UserError(f"a shape is ROWSxCLASSES such as 256x18; got {text!r}") from None
    if rows < 1 or classes < 2:
        raise UserError(f"a shape needs at least 1 row and 2 classes; got {text!r}")
    return rows, classes


def parse_shapes(text: str | Sequence[str]) -> list[tuple[int, int]]:
    """Comma-separated (or a list of) shapes, e.g. ``"256x18,8192x1000"``."""
    items = text.split(",") if isinstance(text, str) else list(text)
    shapes = [parse_shape(item.strip()) for item in items if item.strip()]
    if not shapes:
        raise UserError(f"give at least one shape such as 256x18; got {text!r}")
    return shapes


def parse_losses(names: str | Sequence[str] | None) -> list[str]:
    """Loss names to time (None: every registered loss); an unknown name is a UserError."""
    from lossbench.losses import available_losses, loss_info

    allowed = available_losses()
    if names is None:
        return allowed
    chosen = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
    chosen = [n for n in chosen if n]
    for name in chosen:
        try:
            loss_info(name)
        except ValueError as error:
            raise UserError(str(error)) from None
    if not chosen:
        raise UserError(f"give at least one loss; available: {', '.join(allowed)}")
    return chosen


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from lossbench.engine.device import set_threads
    from lossbench.timing.host import timing_devices

    shapes = None if args.harness else parse_shapes(args.shapes)
    devices = timing_devices(args.device)
    losses = None if args.harness else parse_losses(args.losses)
    rounds = args.rounds if args.rounds is not None else (
        HARNESS_ROUNDS if args.harness else DEFAULT_ROUNDS)
    if rounds < 3:
        raise UserError(f"--rounds must be at least 3 (a median needs them), got {rounds}")
    if not args.block_ms > 0:
        raise UserError(f"--block-ms must be positive, got {args.block_ms}")
    if args.datasets is not None and not args.harness:
        raise UserError("--datasets applies to --harness only")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    set_threads(args.threads)
    for device in devices:
        if args.harness:
            _run_harness(args, device, rounds)
        else:
            _run_kernels(args, device, shapes, losses, rounds)
    return 0


def _run_kernels(args: argparse.Namespace, device, shapes, losses, rounds: int) -> None:
    from lossbench.timing.files import timing_markdown, write_timing
    from lossbench.timing.measure import run_timing

    table = run_timing(shapes, device, threads=args.threads, losses=losses, rounds=rounds,
                       logits=args.logits,
                       block_seconds=args.block_ms / 1000, plain=not args.no_plain,
                       memory=not args.no_memory, progress=_progress)
    paths = write_timing(table, args.out)
    print(timing_markdown(table))
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _run_harness(args: argparse.Namespace, device, rounds: int) -> None:
    from lossbench.pipeline.harness import pick_datasets, run_harness
    from lossbench.timing.files import harness_markdown, write_harness

    table = run_harness(args.suite, device, rounds=rounds, epochs=args.epochs,
                        threads=args.threads, datasets=pick_datasets(args.suite, args.datasets),
                        progress=_progress)
    paths = write_harness(table, args.out)
    print(harness_markdown(table))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
