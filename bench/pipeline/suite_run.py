"""``lossbench run``: a whole suite, from data to report, resumable at every stage.

For each dataset: prepare the data once (the same for every loss and run), tune every loss (a study
that already holds the budget's trials runs nothing), then retrain each loss's best parameters over
the suite's seeds and score them on the test split (a run already stored is not redone). Tuning of
all losses of a dataset ends before its test split is first read. Then the aggregate tables and
the report are written.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import torch
from lossbench import environment
from lossbench.config.datasets import DatasetEntry
from lossbench.config.plan import StudyPlan
from lossbench.config.suite import Suite
from lossbench.engine.data import TrainValData, train_val_view
from lossbench.engine.device import resolve_device, set_threads
from lossbench.engine.models import model_name_for
from lossbench.errors import UserError
from lossbench.evaluation.final import final_run, final_seeds
from lossbench.progress import Progress
from lossbench.redaction import redact
from lossbench.store import ResultStore, atomic_write_csv, atomic_write_text, fingerprint, safe_name
from lossbench.tuning.storage import GRACE_PERIOD, HEARTBEAT_INTERVAL, open_storage
from lossbench.tuning.study import (
    NoCompleteTrial,
    best_params,
    finished_trials,
    open_study,
    quiet_optuna,
    trials_frame,
)
from lossbench.tuning.trials import run_trials
from lossbench.tuning.workers import STORAGE_ENV, spawn, wait_all


@dataclass
class RunOptions:
    """Settings of one ``lossbench run`` that are not part of the suite."""

    out: Path | None = None
    device: str = "auto"
    storage: str | None = None
    threads: int | None = None
    progress: bool = True
    cache_dir: Path | None = None
    report: bool = True
    notes: list[str] = field(default_factory=list)
    workers: int = 1
    """Worker processes on this machine: this one and ``workers - 1`` tuning-only helpers."""
    worker_argv: list[str] = field(default_factory=list)
    """The helpers' command line (``run … --tune-only``), made by the command that parsed it."""
    tune_only: bool = False
    """Tune every study to its target and stop: no final runs, tables or report (a helper, or a
    worker on another machine; one ``lossbench run`` without it finishes the suite)."""
    heartbeat_interval: int = HEARTBEAT_INTERVAL
    grace_period: int = GRACE_PERIOD


def check_workers(workers: int) -> None:
    """``--workers``: a whole number from 1 to 256."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise UserError(f"--workers must be a whole number from 1 to 256, got {workers!r}")


def default_storage(root: Path) -> str:
    """The suite's SQLite study file, ``<results>/studies.db`` (relative paths stay relative, so
    no home folder ends up in a committed report)."""
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'studies.db').as_posix()}"


def load_prepared(entry: DatasetEntry, seed: int, cache_dir: Path | None) -> Any:
    """``lossbench.datasets.prepare`` for one suite entry (the one place data is loaded)."""
    from lossbench.datasets import prepare

    return prepare(entry.spec, seed=seed, cache_dir=cache_dir)


def plans_for(suite: Suite, entry: DatasetEntry, data: TrainValData) -> list[StudyPlan]:
    """One study plan per loss of the suite, for dataset ``entry``."""
    model = model_name_for(data.kind, suite.model, entry.model)
    return [StudyPlan(suite=suite.name, dataset=entry, loss=loss, model=model,
                      budget=suite.budget_for(entry), model_config=suite.model, optim=suite.optim)
            for loss in suite.losses]


def tune_all(plans: list[StudyPlan], data: TrainValData, device: torch.device,
             storage: str | optuna.storages.BaseStorage, store: ResultStore, progress: Progress,
             storage_url: str | None = None, grace_period: int = GRACE_PERIOD) -> dict[str, dict]:
    """Tune every plan to the budget's trials; returns the chosen trial of each loss."""
    chosen = {}
    storage_url = storage_url or (storage if isinstance(storage, str) else "")
    for plan in plans:
        study = open_study(plan, storage)
        target = plan.budget.trials
        shown = [min(target, len(finished_trials(study)))]
        progress.advance(shown[0])

        def show(current, plan=plan, target=target, shown=shown):
            done = min(len(finished_trials(current)), target)
            progress.advance(done - shown[0])  # other workers' trials count too
            shown[0] = done
            best = max((t.value for t in finished_trials(current)
                        if t.state.name == "COMPLETE"), default=None)
            progress.show(plan.dataset.name, plan.loss.name,
                          f"trial {min(done + 1, target)}/{target}", best)

        show(study)
        run_trials(study, plan, data, device, target, after_trial=show, grace_period=grace_period)
        show(study)
        folder = Path("trials") / safe_name(plan.dataset.name)
        atomic_write_csv(store.path(str(folder / f"{safe_name(plan.loss.name)}.csv")),
                         trials_frame(study))
        record = {"study": study.study_name, "storage": redact(storage_url), "trials": target,
                  "fingerprint": plan.fingerprint}
        try:
            params, value, number = best_params(study, target)
            record.update(params=params, val_macro_f1=value, trial=number)
            progress.note(f"{plan.dataset.name} | {plan.loss.name}: best validation macro-F1 "
                          f"{value:.4f} (trial {number}) with "
                          + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))
        except NoCompleteTrial as error:  # every trial diverged: report it, retrain nothing
            record["failed"] = str(error)
            progress.note(f"{plan.dataset.name} | {plan.loss.name}: tuning failed: {error}")
        chosen[plan.loss.name] = record
        store.write_json(str(folder / f"{safe_name(plan.loss.name)}.json"), record)
    return chosen


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def final_all(plans: list[StudyPlan], chosen: dict[str, dict], data: TrainValData, prepared: Any,
              device: torch.device, store: ResultStore, progress: Progress) -> list[tuple]:
    """Retrain every loss's best parameters over the seeds and score on test; skip stored runs."""
    keys = []
    for plan in plans:
        if "failed" in chosen[plan.loss.name]:
            progress.advance(plan.budget.seeds)
            continue
        params = chosen[plan.loss.name]["params"]
        for seed in final_seeds(plan.budget.seeds):
            keys.append((plan.dataset.name, plan.loss.name, seed))
            run_fingerprint = fingerprint({"plan": plan.settings(), "params": params,
                                           "seed": seed})
            if store.load_run(plan.dataset.name, plan.loss.name, seed, run_fingerprint):
                progress.advance()
                continue
            progress.show(plan.dataset.name, plan.loss.name, f"final run seed {seed}")
            record = final_run(plan, params, seed, data, prepared, device, run_fingerprint)
            store.save_run(record)
            progress.advance()
        progress.note(f"{plan.dataset.name} | {plan.loss.name}: {plan.budget.seeds} final runs "
                      "stored")
    return keys


def write_protocol(store: ResultStore, entry: DatasetEntry, prepared: Any, data: TrainValData,
                   plan: StudyPlan) -> None:
    """Splits, sizes and settings of one dataset, for the report (after its final runs)."""
    store.write_json(f"datasets/{safe_name(entry.name)}.json", {
        "name": entry.name, "spec": entry.spec.to_dict(), "kind": data.kind, "model": plan.model,
        "budget": asdict(plan.budget),
        "num_classes": data.num_classes, "class_names": data.class_names,
        "input_shape": list(data.input_shape), "counts": prepared.counts(),
        "description": prepared.description})


def run_suite(suite: Suite, options: RunOptions) -> Path:
    """Run ``suite`` end to end and return its results folder.

    Nothing is written before the storage opens and the first data set loads, so bad input
    (a storage URL, a data root) leaves a results folder as it was.
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    device = resolve_device(options.device)
    suite = suite.for_device(device.type)
    cpu_threads = suite.cpu_threads if device.type == "cpu" else None
    set_threads(options.threads if options.threads is not None else cpu_threads)
    check_workers(options.workers)
    store = ResultStore(options.out or Path("results") / suite.name)
    storage_url = options.storage or os.environ.get(STORAGE_ENV) or default_storage(store.root)
    storage = open_storage(storage_url, options.heartbeat_interval, options.grace_period)
    quiet_optuna()
    total = sum(len(suite.losses) * (suite.budget_for(d).trials
                                     + (0 if options.tune_only else suite.budget_for(d).seeds))
                for d in suite.datasets)
    progress = Progress(total, enabled=options.progress)
    keys: list[tuple] = []
    helpers: list = []
    try:
        for index, entry in enumerate(suite.datasets):
            progress.show(entry.name, "-", "preparing data")
            prepared = load_prepared(entry, suite.budget_for(entry).data_seed, options.cache_dir)
            data = train_val_view(prepared).to(device)
            if index == 0 and not options.tune_only:
                _write_suite(store, suite, device)
            if index == 0 and options.workers > 1:
                helpers = spawn(options.worker_argv, options.workers - 1, storage_url)
            plans = plans_for(suite, entry, data)
            chosen = tune_all(plans, data, device, storage, store, progress, storage_url,
                              options.grace_period)
            if options.tune_only:
                continue
            keys += final_all(plans, chosen, data, prepared, device, store, progress)
            write_protocol(store, entry, prepared, data, plans[0])
    except BaseException:
        for helper in helpers:  # this worker failed: do not leave its helpers behind
            helper.terminate()
        raise
    finally:
        problems = wait_all(helpers)
        progress.close()
    for problem in problems:
        print(f"lossbench: {problem}", file=sys.stderr)
    if options.tune_only:
        return store.root
    store.write_aggregates(set(keys))
    _write_environment(store, device, storage_url, started_at, time.perf_counter() - started)
    if options.report:
        from lossbench.report import build_report

        build_report(store.root)
    return store.root


def _write_suite(store: ResultStore, suite: Suite, device: torch.device) -> None:
    """The suite as run: its TOML and a summary (read by the report)."""
    store.path().mkdir(parents=True, exist_ok=True)
    atomic_write_text(store.path("suite.toml"), suite.source_text)
    store.write_json("suite.json", {"name": suite.name, "description": suite.description,
                                    "toml": suite.source_text, "device_type": device.type,
                                    "datasets": [d.name for d in suite.datasets],
                                    "losses": [loss.name for loss in suite.losses],
                                    "budget": asdict(suite.budget), "model": asdict(suite.model),
                                    "optim": asdict(suite.optim)})


def _write_environment(store: ResultStore, device: torch.device, storage: str, started_at: str,
                       wall_seconds: float) -> None:
    """Versions, device, commit, and this invocation's wall time (earlier ones kept)."""
    previous = store.read_json("environment.json") if store.path("environment.json").is_file() \
        else {}
    invocations = previous.get("invocations", []) + [
        {"started_at": started_at, "wall_seconds": round(wall_seconds, 2)}]
    store.write_json("environment.json", {**environment.describe(device),
                                          "storage": redact(storage), "invocations": invocations,
                                          "wall_seconds": round(wall_seconds, 2)})
