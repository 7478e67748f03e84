"""``lossbench timing``: not built yet."""

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("timing", help="(not built yet)")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise ValueError("'lossbench timing' is not built yet")
