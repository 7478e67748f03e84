"""The report's timing section: the ``lossbench timing`` tables stored beside the results.

A suite's results live in ``results/<suite>/``; ``make timing`` writes ``results/timing/``. When
that sibling folder holds tables, the report shows each device's summary (every loss's
forward+backward time over native cross-entropy per shape, its plain formulation in brackets)
and the bar figure, and points to the full table; when it holds a harness table
(``lossbench timing --harness``), the report shows it too. The files are read through
``lossbench.timing.files`` alone (plain JSON: no torch, no loss zoo).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from lossbench.report.document import Document
from lossbench.timing.files import (
    harness_dataset_rows,
    harness_rows,
    load_harness,
    load_timing,
    summary_table,
)


def timing_frame(table: dict) -> pd.DataFrame:
    """Loss × shape: ratio to native CE with ✓/✗ against the goal, plain formulation's ratio."""
    header, rows = summary_table(table, time_label="native CE (time, µs)",
                                 time_format=lambda microseconds: f"{microseconds:.1f}")
    return pd.DataFrame(rows, columns=header)


def harness_frame(table: dict) -> pd.DataFrame:
    """The harness benchmark's rows: what ran, its median time, its ratio to the bare loop."""
    header, rows = harness_rows(table)
    return pd.DataFrame(rows, columns=header)


def timing_folder(results_root: Path) -> Path:
    """``results/timing/`` beside ``results/<suite>/`` (and beside ``results/reference/``, whose
    suites share the committed timing tables)."""
    parent = results_root.resolve().parent
    if parent.name == "reference" and not (parent / "timing").is_dir():
        parent = parent.parent
    return parent / "timing"


def _link(folder: Path, results_root: Path) -> str:
    """The timing folder as the report's readers reach it from the results folder."""
    return Path(os.path.relpath(folder.resolve(), results_root.resolve())).as_posix()


def timing_section(doc: Document, results_root: Path) -> None:
    """Add the timing tables found in ``results_root.parent / "timing"`` (nothing if none)."""
    folder = timing_folder(Path(results_root))
    tables = load_timing(folder) if folder.is_dir() else {}
    if tables:
        _kernel_section(doc, folder, tables, _link(folder, Path(results_root)))
    harness = load_harness(folder) if folder.is_dir() else {}
    if harness:
        _harness_section(doc, folder, harness, _link(folder, Path(results_root)))


def _kernel_section(doc: Document, folder: Path, tables: dict[str, dict], link: str) -> None:
    doc.heading("Kernel timing")
    for device, table in tables.items():
        env = table["environment"]
        goals = ", ".join(f"≤ {g:g}× at {s}" for s, g in table.get("goals", {}).items())
        doc.paragraph(
            f"Forward+backward time of each loss over native `F.cross_entropy` at the same shape, "
            f"measured side by side in one process on **{device}** ({table.get('hardware', '?')}, "
            f"{table['threads']} thread(s), torch {env.get('versions', {}).get('torch', '?')}, "
            f"commit {env.get('git_commit', '?')[:12]}); the plain autograd formulation in "
            f"brackets; goals {goals or 'none'}. Full table with memory, operator and allocation "
            f"counts: `{link}/timing-{device}.md` (from `make timing`).")
        doc.table(timing_frame(table))
        figure = folder / f"timing-{device}.png"
        doc.figure(figure if figure.is_file() else None,
                   f"forward+backward time over native cross-entropy, {device}")


def _harness_section(doc: Document, folder: Path, tables: dict[str, dict], link: str) -> None:
    doc.heading("Harness timing")
    for device, table in tables.items():
        env = table["environment"]
        recipe = table["recipe"]
        doc.paragraph(
            f"The cost of the harness around the training, measured side by side in one process "
            f"on **{device}** ({table.get('hardware', '?')}, {table['threads']} thread(s), torch "
            f"{env.get('versions', {}).get('torch', '?')}, commit "
            f"{env.get('git_commit', '?')[:12]}): suite `{table['suite']}`, dataset "
            f"`{recipe['dataset']}`, {recipe['model']}, {recipe['epochs']} epochs of batch "
            f"{recipe['batch_size']}; each row's time over a bare PyTorch loop of the same work, "
            f"the median over {table['method']['rounds']} interleaved rounds. Full table: "
            f"`{link}/harness-{device}.md` (from `lossbench timing --harness`).")
        doc.table(harness_frame(table))
        header, rows = harness_dataset_rows(table)
        if rows:
            doc.paragraph("Every dataset measured, each case's ratio to its own bare loop:")
            doc.table(pd.DataFrame(rows, columns=header))
