"""How complete a results folder is: the report's first lines say it before any number.

Expected: every dataset of the suite × every loss and baseline × ``replicates`` × ``seeds`` final
runs (the suite's own budget; a dataset's budget override of replicates or seeds is read from its
protocol file). Found: the stored run files. A loss with no run on a dataset, a dataset with no
run at all and a study that failed (no complete trial) are named with the reason, and so is a
dataset that ``lossbench run --skip-unbuildable`` left out (``ResultStore.skipped``: why it could
not be built).
"""

from __future__ import annotations

from lossbench.report.load import Results
from lossbench.report.tables import plural


def _expected_runs(results: Results, dataset: str) -> int:
    budget = {**results.suite.get("budget", {}),
              **results.datasets.get(dataset, {}).get("budget", {})}
    return int(budget.get("replicates", 1)) * int(budget.get("seeds", 1))


def completeness(results: Results) -> tuple[bool, str]:
    """(complete?, one paragraph) for the top of the report."""
    datasets = list(results.suite.get("datasets", [])) or results.dataset_names
    losses = list(results.suite.get("losses", [])) + list(results.suite.get("baselines", []))
    counts: dict[tuple[str, str], int] = {}
    for run in results.runs:
        key = (run["dataset"], run["loss"])
        counts[key] = counts.get(key, 0) + 1
    skipped = {name: why for name, why in results.store.skipped().items()
               if not any(k[0] == name for k in counts)}
    missing_data = [d for d in datasets if not any(k[0] == d for k in counts) and d not in skipped]
    short = []
    for dataset in (d for d in datasets if d not in missing_data and d not in skipped):
        need = _expected_runs(results, dataset)
        for loss in losses:
            have = counts.get((dataset, loss), 0)
            if have < need:
                short.append(f"{dataset} / {loss}: {have} of {need} final runs")
    failed = sorted({f"{dataset} / {loss}: {record['failed']}"
                     for (dataset, loss), chosen in results.chosen.items()
                     for record in chosen.values() if "failed" in record})
    total = sum(_expected_runs(results, d) for d in datasets) * len(losses)
    found = sum(counts.get((d, loss), 0) for d in datasets for loss in losses)
    if not missing_data and not short and not skipped:
        return True, (f"Complete: {len(datasets)} of {len(datasets)} datasets, "
                      f"{plural(len(losses), 'loss', 'losses and baselines')}, {found} of "
                      f"{total} final runs stored.")
    head = (f"**Partial results**: {found} of {total} final runs stored; the tables and "
            "verdicts below cover only what ran.")
    parts = [head]
    if skipped:
        order = sorted(skipped, key=lambda d: (d not in datasets, datasets.index(d)
                                               if d in datasets else 0, d))
        reasons = "; ".join(f"{name}: {skipped[name].rstrip('.')}" for name in order)
        parts.append(f"Skipped, could not be built (`--skip-unbuildable`): {reasons}; fix "
                     "the data or the profile and run again to add them.")
    if missing_data:
        parts.append(f"Datasets of the suite with no run: {', '.join(missing_data)}.")
    if short:
        shown = "; ".join(short[:8]) + (f"; and {len(short) - 8} more" if len(short) > 8 else "")
        parts.append(f"Short: {shown}.")
    if failed:
        parts.append(f"Tuning failed: {'; '.join(failed[:5])}.")
    if missing_data or short or failed:
        parts.append("Run the same `lossbench run` again to fill in what is missing.")
    return False, " ".join(parts)
