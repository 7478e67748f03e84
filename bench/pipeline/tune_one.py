"""``lossbench tune``: one (dataset, loss) study on its own, the "tune gamma with Optuna" use.

The dataset is a dataset of the suite (by name) or a source with profile settings; budget, model
and optimiser come from the suite (``default`` unless told). With the same settings, the study is
the one ``lossbench run`` of that suite uses, so tuning ahead is not wasted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lossbench.config.datasets import DatasetEntry, parse_dataset, with_options
from lossbench.config.losses import resolve_losses
from lossbench.config.plan import LossEntry, StudyPlan
from lossbench.config.suite import Suite, load_suite
from lossbench.engine.data import train_val_view
from lossbench.engine.device import resolve_device, set_threads
from lossbench.engine.models import model_name_for
from lossbench.errors import UserError
from lossbench.pipeline.suite_run import check_workers, default_storage, load_prepared
from lossbench.progress import Progress
from lossbench.redaction import redact
from lossbench.store import atomic_write_csv, safe_name
from lossbench.tuning.storage import GRACE_PERIOD, HEARTBEAT_INTERVAL, open_storage
from lossbench.tuning.study import (
    best_params,
    finished_trials,
    open_study,
    quiet_optuna,
    trials_frame,
)
from lossbench.tuning.trials import run_trials
from lossbench.tuning.workers import STORAGE_ENV, spawn, wait_all


@dataclass
class TuneRequest:
    """The command line of ``lossbench tune``."""

    dataset: str
    loss: str
    trials: int | None = None
    suite: str = "default"
    profile: str | None = None
    imbalance_ratio: float | None = None
    root: Path | None = None
    epochs: int | None = None
    storage: str | None = None
    study: str | None = None
    out: Path | None = None
    device: str = "auto"
    threads: int | None = None
    cache_dir: Path | None = None
    progress: bool = True
    workers: int = 1
    """Worker processes on this machine (this one and ``workers - 1`` started beside it)."""
    heartbeat_interval: int = HEARTBEAT_INTERVAL
    grace_period: int = GRACE_PERIOD
    worker: bool = False
    """Started by another ``lossbench tune --workers``: run trials only, write and print nothing."""


def resolve_dataset(suite: Suite, request: TuneRequest) -> DatasetEntry:
    """The dataset ``--dataset`` names.

    A dataset of the suite by name; a source name alone (no --profile, no --imbalance-ratio) is
    the suite's first dataset of that source, so ``--dataset digits`` tunes on the data the suite
    benchmarks; a source with profile settings builds a dataset from them.
    """
    names = [d.name for d in suite.datasets]
    overrides = {"root": request.root} if request.root is not None else {}
    from_flags = request.profile is not None or request.imbalance_ratio is not None
    same_source = [d for d in suite.datasets if d.spec.source == request.dataset]
    if not from_flags and (request.dataset in names or same_source):
        entry = suite.dataset(request.dataset) if request.dataset in names else same_source[0]
        if overrides:
            entry = parse_dataset(with_options(entry.table, overrides)[0], "--dataset")
        return entry
    from lossbench.datasets import available_sources

    if request.dataset not in available_sources():
        raise UserError(f"--dataset {request.dataset!r} is neither a dataset of suite "
                        f"{suite.name!r} ({', '.join(names)}) nor a source "
                        f"({', '.join(available_sources())})")
    table: dict[str, Any] = {"source": request.dataset}
    if request.profile is not None:
        table["profile"] = request.profile
    if request.imbalance_ratio is not None:
        table["imbalance_ratio"] = request.imbalance_ratio
    table, applied = with_options(table, overrides)
    if overrides and not applied:
        raise UserError(f"source {request.dataset!r} takes no --root")
    return parse_dataset(table, "--dataset")


def tune_single(request: TuneRequest) -> dict:
    """Bring the study to ``trials`` finished trials; write trials CSV and slice plot."""
    device = resolve_device(request.device)
    suite = load_suite(request.suite).for_device(device.type)
    cpu_threads = suite.cpu_threads if device.type == "cpu" else None
    set_threads(request.threads if request.threads is not None else cpu_threads)
    if request.epochs is not None and not 1 <= request.epochs <= 10_000:
        raise UserError(f"--epochs must be between 1 and 10000, got {request.epochs}")
    entry = resolve_dataset(suite, request)
    budget = suite.budget_for(entry)
    if request.epochs is not None:
        budget = replace(budget, epochs=request.epochs)
    target = request.trials if request.trials is not None else budget.trials
    if not 1 <= target <= 10_000:
        raise UserError(f"--trials must be between 1 and 10000, got {target}")
    loss_name = resolve_losses([request.loss])[0]
    loss = next((entry for entry in suite.losses if entry.name == loss_name),
                LossEntry(name=loss_name, fixed={}))
    check_workers(request.workers)
    check_study_name(request.study)
    root = request.out or Path("results") / suite.name
    storage_url = request.storage or os.environ.get(STORAGE_ENV) or default_storage(root)
    storage = open_storage(storage_url, request.heartbeat_interval, request.grace_period)
    quiet_optuna()
    prepared = load_prepared(entry, budget.data_seed, request.cache_dir)
    data = train_val_view(prepared).to(device)
    del prepared  # tuning never needs the test split
    plan = StudyPlan(suite=suite.name, dataset=entry, loss=loss,
                     model=model_name_for(data.kind, suite.model, entry.model),
                     budget=budget, model_config=suite.model, optim=suite.optim)
    study = open_study(plan, storage, request.study)
    if request.worker:
        ran = run_trials(study, plan, data, device, target, grace_period=request.grace_period)
        return {"study": study.study_name, "ran": ran, "finished": len(finished_trials(study))}
    before = len(finished_trials(study))
    helpers = spawn(worker_argv(request, study.study_name, target), request.workers - 1,
                    storage_url) if request.workers > 1 and before < target else []
    progress = Progress(max(target, before), done=min(before, target), enabled=request.progress)
    progress.show(entry.name, loss_name, f"{before} of {target} trials finished")
    shown = [min(before, target)]

    def after_trial(current) -> None:
        done = min(len(finished_trials(current)), target)
        progress.advance(done - shown[0])
        shown[0] = done
        progress.show(entry.name, loss_name, f"{done} of {target} trials", _best(current))

    try:
        ran = run_trials(study, plan, data, device, target, after_trial=after_trial,
                         grace_period=request.grace_period)
    except BaseException:
        for helper in helpers:  # this worker failed: do not leave its helpers behind
            helper.terminate()
        raise
    finally:
        problems = wait_all(helpers)
        progress.close()
    frame = trials_frame(study)
    stem = f"{safe_name(entry.name)}/{safe_name(loss_name)}"
    atomic_write_csv(root / "trials" / f"{stem}.csv", frame)
    params, value, number = best_params(study)
    from lossbench.report.slices import slice_grid  # seaborn: only where a plot is drawn

    plot = slice_grid({loss_name: frame}, {loss_name: number},
                      f"{entry.name}, {loss_name}: validation macro-F1 against each parameter",
                      root / "figures" / f"slice_{safe_name(entry.name)}_{safe_name(loss_name)}.png")
    return {"study": study.study_name, "storage": redact(storage_url), "ran": ran,
            "finished": len(finished_trials(study)), "pruned": int((frame.state == "PRUNED").sum()),
            "failed": int((frame.state == "FAIL").sum()), "workers": request.workers,
            "worker_problems": problems,
            "best_params": params, "best_value": value, "best_trial": number,
            "trials_csv": root / "trials" / f"{stem}.csv", "slice_plot": plot}


def check_study_name(name: str | None) -> None:
    if name is not None and not (0 < len(name) <= 256 and name.isprintable()):
        raise UserError(f"--study must be 1 to 256 printable characters, got {name[:40]!r}"
                        + ("…" if len(name) > 40 else ""))


def worker_argv(request: TuneRequest, study: str, target: int) -> list[str]:
    """The command line of one helper worker: the same study and settings, trials only."""
    argv = ["tune", "--dataset", request.dataset, "--loss", request.loss, "--suite",
            str(request.suite), "--study", study, "--trials", str(target), "--device",
            request.device, "--heartbeat-interval", str(request.heartbeat_interval),
            "--grace-period", str(request.grace_period), "--worker", "--no-progress"]
    for flag, value in (("--profile", request.profile), ("--imbalance-ratio", request.imbalance_ratio),
                        ("--root", request.root), ("--epochs", request.epochs),
                        ("--out", request.out), ("--threads", request.threads),
                        ("--cache-dir", request.cache_dir)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def _best(study) -> float | None:
    values = [t.value for t in finished_trials(study) if t.state.name == "COMPLETE"]
    return max(values) if values else None
