"""Hand-made stored results for the report's tests (no training): several datasets, any number of
classes and losses, chosen per-class F1 per replicate, optional oracle.

``write_suite(root, datasets, baselines)`` writes a results folder that ``lossbench report``
reads: ``datasets`` maps a dataset name to a ``Data`` (its spec, class names, training counts and,
per loss, the per-class test F1 and validation score of every replicate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from lossbench.store import ResultStore

SPEC = {"class_order": "given", "imbalance_ratio": 100.0, "n_max": None, "options": {},
        "pareto_shape": 6.0, "profile": "natural", "scarce_attribute": None,
        "scarce_classes": [], "scarce_fraction": 0.1, "scarce_value": None, "seed": None,
        "source": "digits", "test": "auto", "test_fraction": 0.2, "test_per_class": None,
        "test_seed": 0, "val": "auto", "val_fraction": 0.2, "val_per_class": None}


def spec(name: str, **settings) -> dict:
    """A stored dataset spec (every field, as ``DatasetSpec.to_dict`` writes it)."""
    return {**SPEC, "name": name, **settings}


@dataclass
class Data:
    """One dataset: ``runs[loss]`` lists per replicate (per-class F1, validation macro-F1)."""

    spec: dict
    class_names: list[str]
    train_counts: list[int]
    runs: dict[str, list[tuple[list[float], float]]]
    oracle: float | None = None
    counts_by_replicate: list[list[int]] = field(default_factory=list)
    """Training counts of each replicate (default: ``train_counts`` for all)."""


def replicates(f1: list[float], val: float, n: int = 5, spread: float = 0.01,
               seed: int = 0) -> list[tuple[list[float], float]]:
    """``n`` replicates around the per-class ``f1`` (noise ``spread``), validation about ``val``."""
    rng = np.random.default_rng(seed)
    return [([float(np.clip(f + spread * rng.standard_normal(), 0, 1)) for f in f1],
             val + 0.002 * rng.standard_normal()) for _ in range(n)]


def _group(count: int) -> str:
    return "many" if count > 100 else "medium" if count >= 20 else "few"


def _record(dataset: str, data: Data, loss: str, replicate: int, f1: list[float], val: float,
            baseline: bool) -> dict:
    size = len(f1)
    counts = (data.counts_by_replicate[replicate] if data.counts_by_replicate
              else data.train_counts)
    support = 20
    confusion = np.zeros((size, size), dtype=int)
    for c, score in enumerate(f1):  # the diagonal follows the F1, the rest goes to the next class
        right = round(support * score)
        confusion[c, c] = right
        confusion[c, (c + 1) % size] += support - right
    mean = float(np.mean(f1))
    return {
        "suite": "hand-made", "dataset": dataset, "loss": loss, "replicate": replicate,
        "seed": 1000 + 100 * replicate, "baseline": baseline, "fingerprint": "x", "model": "mlp",
        "params": {"lr": 0.1}, "fixed_params": {}, "status": "ok", "diverged": None,
        "best_epoch": 1, "val_macro_f1": val, "history": [], "train_seconds": 0.1,
        "class_names": data.class_names, "train_counts": counts,
        "test": {
            "summary": {"macro_f1": mean, "balanced_accuracy": mean, "accuracy": mean,
                        "worst_class_f1": min(f1), "many_f1": mean, "medium_f1": mean,
                        "few_f1": mean, "ece": 0.05},
            "per_class": {"precision": f1, "recall": f1, "f1": f1, "support": [support] * size,
                          "group": [_group(c) for c in counts]},
            "group_rule": "many > 100, medium 20-100, few < 20 training images",
            "confusion": confusion.tolist(),
            "calibration": {"count": [0] * 14 + [support * size],
                            "confidence": [0.0] * 14 + [0.9 * support * size],
                            "correct": [0.0] * 14 + [mean * support * size]},
            "oracle_macro_f1": data.oracle},
    }


def write_suite(root, datasets: dict[str, Data], baselines: tuple[str, ...] = (),
                name: str = "hand-made") -> ResultStore:
    """Write ``datasets`` as a finished results folder under ``root``."""
    store = ResultStore(root)
    losses: list[str] = []
    for dataset, data in datasets.items():
        for loss, per_replicate in data.runs.items():
            losses.append(loss)
            for replicate, (f1, val) in enumerate(per_replicate):
                store.save_run(_record(dataset, data, loss, replicate, f1, val,
                                       baseline=loss in baselines))
        store.write_json(store.dataset_json(dataset), {
            "name": dataset, "kind": "features", "model": "mlp",
            "num_classes": len(data.class_names), "class_names": data.class_names,
            "counts": {"train": data.train_counts, "val": [5] * len(data.class_names),
                       "test": [20] * len(data.class_names)},
            "spec": data.spec, "budget": {"replicates": 5, "trials": 2}})
    store.write_json(store.suite_json, {
        "name": name, "datasets": list(datasets), "rope": 0.01,
        "losses": [loss for loss in dict.fromkeys(losses) if loss not in baselines],
        "baselines": list(baselines), "budget": {"trials": 2}, "model": {}, "optim": {}})
    store.write_aggregates()
    return store
