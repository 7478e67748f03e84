"""``lossbench timing``: forward+backward time of every loss against native cross-entropy.

    lossbench timing                                   # 256x18, 1024x100, 8192x1000; CPU (+ CUDA)
    lossbench timing --shapes 256x18 --threads 1 --device cpu --out /tmp/timing
    lossbench timing --losses focal,soft_f1 --rounds 50

Prints the table and writes ``timing-<device>.json``, ``.md`` and ``.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import sys

from lossbench.errors import UserError

DEFAULT_OUT = "results/timing"


def register(subparsers) -> None:
    parser = subparsers.add_parser("timing", help="time every loss against native cross-entropy",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="256x18,1024x100,8192x1000",
                        help="comma-separated ROWSxCLASSES (default 256x18,1024x100,8192x1000)")
    parser.add_argument("--device", default="auto",
                        help="auto (the CPU, and CUDA when present), cpu or cuda (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--losses", default=None,
                        help="comma-separated loss names (default: every registered loss)")
    parser.add_argument("--rounds", type=int, default=25,
                        help="interleaved rounds; times are medians over them (default 25)")
    parser.add_argument("--block-ms", type=float, default=5.0,
                        help="length of one timed block in milliseconds (default 5)")
    parser.add_argument("--no-plain", action="store_true",
                        help="skip the plain autograd formulations")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the profiler's columns (peak memory, ATen calls, allocations)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lossbench.timing.measure import (
        parse_losses,
        parse_shapes,
        resolve_devices,
        run_timing,
        timing_markdown,
        write_timing,
    )

    shapes = parse_shapes(args.shapes)
    devices = resolve_devices(args.device)
    losses = parse_losses(args.losses)
    if args.rounds < 3:
        raise UserError(f"--rounds must be at least 3 (a median needs them); got {args.rounds}")
    if not args.block_ms > 0:
        raise UserError(f"--block-ms must be positive; got {args.block_ms}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1; got {args.threads}")
    for device in devices:
        table = run_timing(shapes, device, threads=args.threads, losses=losses,
                           rounds=args.rounds, block_seconds=args.block_ms / 1000,
                           plain=not args.no_plain, memory=not args.no_memory,
                           progress=lambda text: print(text, file=sys.stderr, flush=True))
        paths = write_timing(table, args.out)
        print(timing_markdown(table))
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
