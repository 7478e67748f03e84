"""``lossbench losses``: the registered losses, what they are, and what Optuna tunes.

It reads the registry's torch-free metadata only: it answers without importing torch.
"""

from __future__ import annotations

import argparse
import json

from lossbench.commands._table import text_table


def register(subparsers) -> None:
    parser = subparsers.add_parser("losses", help="list the registered losses and search spaces")
    parser.add_argument("name", nargs="?", help="show one loss in detail")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def describe(name: str) -> dict:
    """Plain data describing one loss (for the table and ``--json``)."""
    from lossbench.losses import loss_info  # torch-free (the loss code is not imported)

    info = loss_info(name)
    return {
        "name": info.name,
        "description": info.description,
        "reference": info.reference,
        "needs_class_counts": info.needs_class_counts,
        "params": {key: value for key, value in info.params.items()},
        "allowed": {key: bound.describe() for key, bound in info.bounds.items()},
        "search_space": {key: spec.describe() for key, spec in info.search_space.items()},
    }


def _table(rows: list[dict]) -> str:
    header = ("name", "description", "tuned by Optuna (plus lr, weight decay)")
    lines = [(row["name"], row["description"],
              ", ".join(f"{k} {v}" for k, v in row["search_space"].items()) or "-")
             for row in rows]
    return "\n".join(text_table(header, lines, rule=True))


def run(args: argparse.Namespace) -> int:
    from lossbench.losses import available_losses  # torch-free

    names = [args.name] if args.name else available_losses()
    rows = [describe(name) for name in names]
    if args.json:
        print(json.dumps(rows if not args.name else rows[0], indent=2, default=str))
    elif args.name:
        row = rows[0]
        print(f"{row['name']}: {row['description']}\nreference: {row['reference']}")
        print(f"needs class counts: {'yes' if row['needs_class_counts'] else 'no'}")
        print("parameters (defaults): " + (", ".join(
            f"{k}={v!r}" for k, v in row["params"].items()) or "none"))
        if row["allowed"]:
            print("allowed values: " + ", ".join(
                f"{k} in {v}" for k, v in row["allowed"].items()))
        print("search space: " + (", ".join(
            f"{k} in {v}" for k, v in row["search_space"].items()) or "none"))
    else:
        print(_table(rows))
    return 0
