"""The report's comparison with the committed reference run of the same suite.

``make bench`` writes a fresh ``results/<suite>/`` on the user's machine; the repository commits
the canonical run under ``results/reference/<suite>/``. When that folder holds a ``verdict.json``,
the report ends by setting this run beside it, dataset by dataset:

- the recommended loss agrees when it is the same, or when each run's choice lies in the other's
  tied set (the two runs cannot tell them apart either way);
- each loss's difference from cross-entropy agrees when the two 95 % intervals overlap (the
  intervals are over replicates, so with fresh draws and another machine a small shift is
  expected; a disjoint pair is worth a look).
"""

from __future__ import annotations

import pandas as pd
from lossbench.report.document import Document
from lossbench.report.load import Results
from lossbench.report.tables import fmt_signed
from lossbench.report.verdict import verdict_record
from lossbench.store import ResultStore, safe_name


def _overlap(a: list, b: list) -> bool | None:
    if None in (*a, *b) or len(a) != 2 or len(b) != 2:
        return None
    return max(a[0], b[0]) <= min(a[1], b[1])


def _interval(bounds: list) -> str:
    return "n/a" if None in bounds else f"[{fmt_signed(bounds[0])}, {fmt_signed(bounds[1])}]"


def same_choice(here: dict, there: dict) -> bool:
    """The same recommended loss, or each one inside the other's tied set."""
    mine, theirs = here.get("recommended"), there.get("recommended")
    if mine is None or theirs is None:
        return False
    return mine == theirs or (mine in there.get("tied_with_recommended", [])
                              and theirs in here.get("tied_with_recommended", []))


def loss_rows(here: dict, there: dict) -> pd.DataFrame:
    """Per loss in both runs: test macro-F1 and Δ vs CE with intervals, and whether they overlap."""
    rows = []
    for loss, mine in here.get("losses", {}).items():
        theirs = there.get("losses", {}).get(loss)
        if theirs is None:
            continue
        overlap = _overlap(mine["interval"], theirs["interval"])
        rows.append({"loss": loss, "test macro-F1": mine["test_macro_f1"],
                     "reference": theirs["test_macro_f1"],
                     "Δ vs CE": _interval(mine["interval"]),
                     "reference Δ vs CE": _interval(theirs["interval"]),
                     "intervals overlap": {True: "yes", False: "NO", None: "n/a"}[overlap]})
    return pd.DataFrame(rows)


def reference_section(doc: Document, results: Results, summaries: dict[str, pd.DataFrame]) -> None:
    """Add "Against the committed reference" when ``results/reference/<suite>/verdict.json``
    exists (nothing otherwise)."""
    root = results.store.reference_root
    if root is None or not (root / "verdict.json").is_file():
        return
    reference = ResultStore(root).read_json(ResultStore(root).verdict_json, default={})
    shared = [d for d in results.dataset_names if d in reference and not summaries[d].empty]
    if not shared:
        return
    doc.heading("Against the committed reference")
    lines, agree, overlaps, compared = [], 0, 0, 0
    tables = []
    for dataset in shared:
        here, there = verdict_record(results, dataset, summaries[dataset]), reference[dataset]
        same = same_choice(here, there)
        agree += same
        rows = loss_rows(here, there)
        known = rows[rows["intervals overlap"] != "n/a"] if len(rows) else rows
        compared += len(known)
        overlaps += int((known["intervals overlap"] == "yes").sum()) if len(known) else 0
        lines.append(f"{dataset}: this run recommends {here.get('recommended') or 'nothing'}, "
                     f"the reference {there.get('recommended') or 'nothing'} — "
                     + ("the same choice" if same else "a different choice")
                     + (" (same loss)" if here.get("recommended") == there.get("recommended")
                        else " (each within the other's tied set)" if same else "") + ".")
        tables.append((dataset, rows))
    doc.paragraph(f"This run beside the committed reference (`{root.as_posix()}`): the same "
                  f"recommended loss, or tied sets that hold each other's choice, on {agree} of "
                  f"{len(shared)} datasets; the Δ-vs-cross-entropy intervals of a loss overlap "
                  f"the reference's in {overlaps} of {compared} comparisons. Fresh draws and "
                  "another machine shift the numbers; a choice or an interval that moves "
                  "apart is worth a look.")
    doc.bullets(lines)
    for dataset, rows in tables:
        doc.heading(f"{dataset} against the reference", level=3)
        if len(rows):
            path = results.store.table_csv(f"reference_{safe_name(dataset)}")
            results.store.write_csv(path, rows)
            doc.table(rows.round(4), csv=results.store.relative(path))
