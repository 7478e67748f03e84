"""``lossbench report DIR``: rebuild a suite's report from its stored results, without training."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="rebuild report.md and report.html from stored results",
        description="Rebuild the report of a results folder written by 'lossbench run' "
                    "(tables, figures, report.md, report.html) from the stored runs and trials.")
    parser.add_argument("results", type=Path, metavar="DIR",
                        help="results folder, e.g. results/default")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from lossbench.report import build_report

    markdown, html = build_report(args.results)
    print(f"report: {markdown} and {html}")
    return 0
