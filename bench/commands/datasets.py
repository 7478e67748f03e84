"""``lossbench datasets``: not built yet (placeholder until the datasets command lands)."""

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("datasets", help="(not built yet)")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise ValueError("'lossbench datasets' is not built yet")
