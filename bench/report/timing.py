"""The report's kernel-timing section: the ``lossbench timing`` tables stored beside the results.

A suite's results live in ``results/<suite>/``; ``make timing`` writes ``results/timing/``. When
that sibling folder holds tables, the report shows each device's summary (every loss's
forward+backward time over native cross-entropy per shape, its plain formulation in brackets)
and the bar figure, and points to the full table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lossbench.report.document import Document
from lossbench.timing.measure import load_timing


def timing_frame(table: dict) -> pd.DataFrame:
    """Loss × shape: ratio to native CE with ✓/✗ against the goal, plain formulation's ratio."""
    shapes = table["shapes"]
    rows = [{"loss": "native CE (time, µs)",
             **{s["shape"]: f"{s['reference']['median_us']:.1f}" for s in shapes}}]
    for name in (row["loss"] for row in shapes[0]["losses"]):
        cells = {}
        for shape in shapes:
            row = next(r for r in shape["losses"] if r["loss"] == name)
            mark = {True: " ✓", False: " ✗"}.get(row.get("meets_goal"), "")
            plain = f" ({row['plain']['ratio_ce']:.2f}×)" if "plain" in row else ""
            cells[shape["shape"]] = f"{row['ratio_ce']:.2f}×{mark}{plain}"
        rows.append({"loss": name, **cells})
    return pd.DataFrame(rows)


def timing_section(doc: Document, results_root: Path) -> None:
    """Add the timing tables found in ``results_root.parent / "timing"`` (nothing if none)."""
    folder = Path(results_root).parent / "timing"
    tables = load_timing(folder) if folder.is_dir() else {}
    if not tables:
        return
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
            f"counts: `../{folder.name}/timing-{device}.md` (from `make timing`).")
        doc.table(timing_frame(table))
        figure = folder / f"timing-{device}.png"
        doc.figure(figure if figure.is_file() else None,
                   f"forward+backward time over native cross-entropy, {device}")
