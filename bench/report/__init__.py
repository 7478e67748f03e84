"""The report: ``build_report(results_dir)`` turns stored results into report.md and report.html.

It reads only what ``lossbench run`` stored (runs, per-class metrics, trials, protocol), so
``lossbench report DIR`` rebuilds it without training. Tables are also written as CSV under
``tables/`` and figures as PNG under ``figures/``.
"""

from __future__ import annotations

import time
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
    for dataset in results.dataset_names:
        dataset_section(doc, results, dataset, summaries[dataset])
    timing_section(doc, results.root)  # the sibling results/timing/ folder, when there is one
    reference_section(doc, results, summaries)  # results/reference/<suite>/, when there is one
    environment_section(doc, results, report_seconds=time.perf_counter() - started)
    markdown, html = results.store.report_md, results.store.report_html
    atomic_write_text(markdown, to_markdown(doc, results.root))
    atomic_write_text(html, to_html(doc))
    return markdown, html
