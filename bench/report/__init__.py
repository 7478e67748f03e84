"""The report: ``build_report(results_dir)`` turns stored results into report.md and report.html.

It reads only what ``lossbench run`` stored (runs, per-class metrics, trials, protocol), so
``lossbench report DIR`` rebuilds it without training. Tables are also written as CSV under
``tables/`` and figures as PNG under ``figures/``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lossbench.report.completeness import completeness
from lossbench.report.document import Document, to_html, to_markdown
from lossbench.report.literature import literature_section
from lossbench.report.load import load_results
from lossbench.report.reference import reference_section
from lossbench.report.sections import (
    dataset_section,
    environment_section,
    protocol_section,
    verdict_section,
)
from lossbench.report.sweep import sweep_section
from lossbench.report.tables import summary_table
from lossbench.report.timing import timing_section
from lossbench.store import atomic_write_text

__all__ = ["build_report"]


def _wall_time(environment: dict) -> str:
    """The run's wall time; when several invocations made it (a resumed run, or a rerun that
    found everything stored and trained nothing), each one's share, so a quick rerun is not
    mistaken for the cost of the benchmark."""
    invocations = environment.get("invocations", [])
    if len(invocations) <= 1:
        wall = environment.get("wall_seconds")
        return f"wall time of the run: {wall if wall is not None else 'n/a'} s before the report"
    shares = ", ".join(f"{i['wall_seconds']:.1f} s from {i['started_at']}" for i in invocations)
    total = sum(i["wall_seconds"] for i in invocations)
    return (f"wall time of the run: {total:.1f} s before the report over {len(invocations)} "
            f"invocations ({shares}; an invocation finds stored trials and final runs and does "
            f"not train them again)")


def _workers(environment: dict) -> str:
    """", 2 worker processes" when the run spread its studies over several (older runs: '')."""
    workers = environment.get("workers")
    return f", {workers} worker processes" if isinstance(workers, int) and workers > 1 else ""


_SHARED: tuple | None = None
"""What a forked section process reads: (results, summaries), inherited, never pickled."""


def _section_blocks(name: str) -> list[tuple]:
    results, summaries = _SHARED
    part = Document(title=name)
    dataset_section(part, results, name, summaries[name])
    return part.blocks


def _dataset_sections(results, summaries: dict) -> list[list[tuple]]:
    """Each dataset's section (its tables and figures, most of the report's time, nearly all of
    it matplotlib), drawn in parallel processes forked from this one, one a CPU core, where the
    system forks (Linux); in this process elsewhere or for a single dataset. In the datasets'
    order either way; the figures are the same files."""
    global _SHARED
    names = list(results.dataset_names)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    processes = min(len(names), cores)
    if processes < 2 or "fork" not in multiprocessing.get_all_start_methods():
        _SHARED = (results, summaries)
        try:
            return [_section_blocks(name) for name in names]
        finally:
            _SHARED = None
    _SHARED = (results, summaries)
    try:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_section_blocks, names))
    finally:
        _SHARED = None


def build_report(root: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` in ``root``; returns their paths."""
    started = time.perf_counter()
    results = load_results(Path(root))
    name = results.suite.get("name", results.root.name)
    doc = Document(title=f"lossbench report: suite `{name}`")
    description = results.suite.get("description")
    doc.paragraph((f"{description} " if description else "")
                  + f"Device: {results.environment.get('device', 'n/a')}"
                  + _workers(results.environment) + "; "
                  f"{_wall_time(results.environment)} (see Environment). "
                  f"Rebuild with `lossbench report {results.root}`.")
    doc.paragraph(completeness(results)[1])
    doc.contents()
    summaries = {d: summary_table(results, d) for d in results.dataset_names}
    verdict_section(doc, results, summaries)
    protocol_section(doc, results)
    literature_section(doc, results, summaries)  # CIFAR-10-LT suites only
    sweep_section(doc, results, summaries)  # datasets that differ in one profile setting only
    doc.heading("Results")
    for blocks in _dataset_sections(results, summaries):
        doc.blocks.extend(blocks)
    timing_section(doc, results.root)  # the sibling results/timing/ folder, when there is one
    reference_section(doc, results, summaries)  # results/reference/<suite>/, when there is one
    environment_section(doc, results, report_seconds=time.perf_counter() - started)
    markdown, html = results.store.report_md, results.store.report_html
    atomic_write_text(markdown, to_markdown(doc, results.root))
    atomic_write_text(html, to_html(doc))
    return markdown, html
