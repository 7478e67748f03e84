"""``lossbench report DIR``: rebuild a suite's report from its stored results, without training.

``lossbench report DIR --per-class DATASET [--loss NAME ...]`` prints a classification-report
style table per loss instead (nothing is written, so it works on a read-only folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lossbench.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="rebuild report.md and report.html from stored results, or print a "
                       "per-class table",
        description="Rebuild the report of a results folder written by 'lossbench run' "
                    "(tables, figures, report.md, report.html) from the stored runs and trials. "
                    "With --per-class, print a classification-report style table of one "
                    "dataset in the terminal instead and write nothing.")
    parser.add_argument("results", type=Path, metavar="DIR",
                        help="results folder, e.g. results/default")
    parser.add_argument("--per-class", metavar="DATASET", default=None,
                        help="print per class (most training images first) the train images, "
                             "precision, recall, F1 with its 95 %% interval over replicates and "
                             "support, then macro average, balanced accuracy and accuracy, for "
                             "this dataset; the report is not rebuilt")
    parser.add_argument("--loss", metavar="NAME", action="append", default=None,
                        help="with --per-class: only this loss or baseline (repeat the option "
                             "or give a comma-separated list; default: every one with runs)")
    parser.set_defaults(func=_run)


def _names(values: list[str] | None) -> list[str]:
    """The ``--loss`` values, comma-separated lists split, empty names dropped."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _run(args: argparse.Namespace) -> int:
    if args.per_class is None:
        if args.loss:
            raise UserError("--loss needs --per-class DATASET (the full report covers every "
                            "loss)")
        from lossbench.report import build_report

        markdown, html = build_report(args.results)
        print(f"report: {markdown} and {html}")
        return 0
    print("\n".join(per_class_text(args.results, args.per_class, _names(args.loss))))
    return 0


def per_class_text(root: Path, dataset: str, losses: list[str]) -> list[str]:
    """The lines ``--per-class`` prints: per loss a title, the table and the totals, then a
    note on how the numbers are made."""
    from lossbench.commands._table import text_table
    from lossbench.report.load import load_results
    from lossbench.report.terminal import HEADER, LEFT, NOTE, per_class_tables

    tables = per_class_tables(load_results(root), dataset, losses)
    lines: list[str] = []
    for table in tables:
        body = text_table(HEADER, [*table.rows, *table.totals], left=LEFT, rule=True)
        split = 2 + len(table.rows)  # header and rule, then the classes
        lines += [table.title, "", *body[:split], "", *body[split:], ""]
    return lines + [NOTE]
