"""``lossbench tune``: one (dataset, loss) study on its own, the "tune gamma with Optuna" use.

The dataset is a dataset of the suite (by name) or a source with profile settings; budget, model
and optimiser come from the suite (``default`` unless told). With the same settings, the study is
the one ``lossbench run`` of that suite uses, so tuning ahead is not wasted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lossbench.config.datasets import DatasetEntry, parse_dataset, with_options
from lossbench.config.losses import resolve_losses
from lossbench.config.plan import LossEntry, StudyPlan, replicate_budget
from lossbench.config.suite import Suite, load_suite
from lossbench.engine.data import train_val_view
from lossbench.engine.device import resolve_device
from lossbench.engine.models import model_name_for
from lossbench.errors import UserError
from lossbench.pipeline.setup import helper_argv, helpers, load_prepared, open_session, tune_study
from lossbench.progress import Progress
from lossbench.redaction import redact
from lossbench.tuning.storage import GRACE_PERIOD, HEARTBEAT_INTERVAL
from lossbench.tuning.study import (
    NoCompleteTrial,
    best_params,
    finished_trials,
    open_study,
    trials_frame,
)
from lossbench.tuning.trials import run_trials


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
    replicate: int = 0
    """Which replicate's study (its data draw and seeds); ``lossbench run`` uses the same."""
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
    suite = load_suite(request.suite).for_device(resolve_device(request.device).type)
    if request.epochs is not None and not 1 <= request.epochs <= 10_000:
        raise UserError(f"--epochs must be between 1 and 10000, got {request.epochs}")
    entry = resolve_dataset(suite, request)
    budget = suite.budget_for(entry)
    if not 0 <= request.replicate < budget.replicates:
        raise UserError(f"--replicate must be from 0 to {budget.replicates - 1} (the suite has "
                        f"{budget.replicates} replicates), got {request.replicate}")
    budget = replicate_budget(budget, suite.seed, request.replicate)
    if request.epochs is not None:
        budget = replace(budget, epochs=request.epochs)
    target = request.trials if request.trials is not None else budget.trials
    if not 1 <= target <= 10_000:
        raise UserError(f"--trials must be between 1 and 10000, got {target}")
    loss_name = resolve_losses([request.loss])[0]
    loss = next((entry for entry in suite.losses if entry.name == loss_name),
                LossEntry(name=loss_name, fixed={}))
    check_study_name(request.study)
    session = open_session(device=request.device, threads=request.threads,
                           cpu_threads=suite.cpu_threads, workers=request.workers,
                           storage=request.storage, results=request.out or Path("results")
                           / suite.name, heartbeat_interval=request.heartbeat_interval,
                           grace_period=request.grace_period)
    prepared = load_prepared(entry, budget.data_seed, request.cache_dir)
    data = train_val_view(prepared).to(session.device)
    del prepared  # tuning never needs the test split
    plan = StudyPlan(suite=suite.name, dataset=entry, loss=loss,
                     model=model_name_for(data.kind, suite.model, entry.model), budget=budget,
                     model_config=suite.model, optim=suite.optim, replicate=request.replicate)
    study = open_study(plan, session.storage, request.study)
    if request.worker:
        ran = run_trials(study, plan, data, session.device, target,
                         grace_period=request.grace_period)
        return {"study": study.study_name, "ran": ran, "finished": len(finished_trials(study))}
    before = len(finished_trials(study))
    count = request.workers - 1 if before < target else 0
    progress = Progress(max(target, before), enabled=request.progress)
    problems: list[str] = []
    try:
        if request.threads is None and session.device.type == "cpu":  # helpers: this one's share
            import torch

            request = replace(request, threads=torch.get_num_threads())
        with helpers([worker_argv(request, study.study_name, target)] * count,
                     session.storage_url, problems):
            study, ran = tune_study(plan, data, session, target, progress, loss_name,
                                    study.study_name)
    finally:
        progress.close()
    return _summary(request, session, plan, study, ran, problems, len(data.val))


TOP_K = 5
"""Trials ``lossbench tune`` lists, best first."""


def certainty(frame, best_value: float, val_rows: int) -> dict:
    """The top trials and how sure the choice is.

    Validation noise is estimated as the binomial standard error of a proportion at the best
    score, sqrt(F(1 - F) / n) with n validation rows (macro-F1 has no closed-form error; this is
    the error of an accuracy of that size, the right order for a balanced validation split).
    Trials within one such error of the best cannot be told from it: the spread of their
    parameters is how precisely the tuning located the optimum.
    """
    complete = frame[frame.state == "COMPLETE"].sort_values(["value", "number"],
                                                            ascending=[False, True])
    params = [c for c in frame.columns if c.startswith("param_")]
    noise = math.sqrt(max(best_value * (1 - best_value), 0.0) / max(val_rows, 1))
    close = complete[complete.value >= best_value - noise]
    spread = {c.removeprefix("param_"): (close[c].min(), close[c].max()) for c in params
              if close[c].notna().any() and not isinstance(close[c].iloc[0], str)}
    top = [{"number": int(r.number), "value": float(r.value),
            "params": {c.removeprefix("param_"): getattr(r, c) for c in params
                       if getattr(r, c) == getattr(r, c)}}  # NaN: not sampled in that trial
           for r in complete.head(TOP_K).itertuples()]
    return {"top": top, "noise": noise, "val_rows": val_rows, "within_noise": len(close),
            "spread": spread}


def _summary(request: TuneRequest, session, plan: StudyPlan, study, ran: int,
             problems: list[str], val_rows: int) -> dict:
    """Write the trials table and the slice plot; what ``lossbench tune`` prints."""
    store, dataset, loss = session.store, plan.dataset.name, plan.loss.name
    frame = trials_frame(study)
    trials_csv = store.trials_csv(dataset, loss, plan.replicate)
    store.write_csv(trials_csv, frame)
    params, value, number = best_params(study)
    from lossbench.report.slices import slice_grid  # seaborn: only where a plot is drawn

    plot = slice_grid({loss: frame}, {loss: number},
                      f"{dataset}, {loss}: validation macro-F1 against each parameter",
                      store.slice_png(dataset, loss))
    from lossbench.pipeline.suite_run import search_space
    from lossbench.report.tables import near_bound

    space = search_space(plan)
    at_bound = {name: (end, space[name]["low"], space[name]["high"]) for name in params
                if name in space and (end := near_bound(params[name], space[name]))}
    return {"study": study.study_name, "storage": redact(session.storage_url), "ran": ran,
            "at_bound": at_bound,
            "finished": len(finished_trials(study)), "pruned": int((frame.state == "PRUNED").sum()),
            "failed": int((frame.state == "FAIL").sum()), "workers": request.workers,
            "worker_problems": problems,
            "best_params": params, "best_value": value, "best_trial": number,
            "budget_trials": plan.budget.trials, "run_trial": _run_trial(study, plan),
            **certainty(frame, value, val_rows),
            "trials_csv": trials_csv, "slice_plot": plot}


def _run_trial(study, plan: StudyPlan) -> int | None:
    """The trial ``lossbench run`` retrains: the best of the suite's first ``budget.trials``
    finished ones (every loss gets the same budget), None when none of them is complete."""
    try:
        return best_params(study, plan.budget.trials)[2]
    except NoCompleteTrial:
        return None


def check_study_name(name: str | None) -> None:
    if name is not None and not (0 < len(name) <= 256 and name.isprintable()):
        raise UserError(f"--study must be 1 to 256 printable characters, got {name[:40]!r}"
                        + ("…" if len(name) > 40 else ""))


def worker_argv(request: TuneRequest, study: str, target: int) -> list[str]:
    """The command line of one helper worker: the same study and settings, trials only."""
    return helper_argv(
        ["tune", "--dataset", request.dataset, "--loss", request.loss, "--worker", "--no-progress"],
        {"--suite": request.suite, "--study": study, "--trials": target,
         "--device": request.device, "--heartbeat-interval": request.heartbeat_interval,
         "--grace-period": request.grace_period, "--replicate": request.replicate,
         "--profile": request.profile, "--imbalance-ratio": request.imbalance_ratio,
         "--root": request.root, "--epochs": request.epochs, "--out": request.out,
         "--threads": request.threads, "--cache-dir": request.cache_dir})
