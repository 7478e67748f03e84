"""``lossbench run``: a whole suite, from data to report, resumable at every stage.

First a preflight: every dataset of the suite is built (replicate 0) and every loss constructed
for it, so a dataset that cannot be built stops the run before any training, with its name
(``--skip-unbuildable``: the others run, and the report says which was skipped and why).
Then for each dataset and each replicate r: prepare replicate r's data (its resampled train pool,
validation split and, where the source has none of its own, test split), tune every loss and
trained baseline in a study of its own (a study that holds the budget's trials runs nothing),
and only then retrain each one's chosen parameters with the replicate's final seeds and score
them on the test split (a run already stored is not redone). Then the summaries and the report.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lossbench import environment
from lossbench.config.datasets import DatasetEntry
from lossbench.config.losses import info as loss_info
from lossbench.config.plan import StudyPlan, replicate_budget
from lossbench.config.suite import Suite
from lossbench.engine.data import TrainValData, train_val_view
from lossbench.engine.device import resolve_device
from lossbench.engine.models import model_name_for
from lossbench.errors import UserError
from lossbench.evaluation.final import POSTHOC, final_run, final_seeds
from lossbench.pipeline.setup import Session, helpers, load_prepared, open_session, tune_study
from lossbench.pipeline.shares import WHOLE, Share, total_steps, units
from lossbench.progress import Progress
from lossbench.redaction import redact
from lossbench.store import ResultStore, fingerprint
from lossbench.tuning.storage import GRACE_PERIOD, HEARTBEAT_INTERVAL
from lossbench.tuning.study import NoCompleteTrial, best_params, trials_frame


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
    workers: int = 1
    """Worker processes on this machine: this one and ``workers - 1`` helpers, each running its
    share of the suite's studies (``Share``)."""
    worker_argv: list[str] = field(default_factory=list)
    """The helpers' command line (``run … --share K/N`` is added for each), made by the command
    that parsed it."""
    share: Share = field(default_factory=lambda: Share())
    """The studies this process runs: all of them, or a helper's share."""
    tune_only: bool = False
    """Tune every study to its target and stop: no final runs, tables or report (a helper, or a
    worker on another machine; one ``lossbench run`` without it finishes the suite)."""
    heartbeat_interval: int = HEARTBEAT_INTERVAL
    grace_period: int = GRACE_PERIOD
    skip_unbuildable: bool = False
    """Run the datasets that can be built and record the others, with the reason, for the
    report (``ResultStore.write_skipped``), instead of stopping before any training."""


def plans_for(suite: Suite, entry: DatasetEntry, data: TrainValData,
              replicate: int = 0) -> list[StudyPlan]:
    """One study plan per loss and trained baseline of the suite, for replicate ``replicate``
    of dataset ``entry``."""
    model = model_name_for(data.kind, suite.model, entry.model)
    budget = replicate_budget(suite.budget_for(entry), suite.seed, replicate)
    return [StudyPlan(suite=suite.name, dataset=entry, loss=loss, model=model, budget=budget,
                      model_config=suite.model, optim=suite.optim, replicate=replicate)
            for loss in suite.trained]


def replicate_data(suite: Suite, entry: DatasetEntry, replicate: int,
                   cache_dir: Path | None) -> Any:
    """Replicate ``replicate``'s prepared data of ``entry`` (its own resampling and splits)."""
    budget = replicate_budget(suite.budget_for(entry), suite.seed, replicate)
    return load_prepared(entry, budget.data_seed, cache_dir)


def preflight(suite: Suite, cache_dir: Path | None, skip: bool = False) -> dict[str, str]:
    """Build every dataset (replicate 0) and every loss for it before anything trains; the
    error names the dataset. With ``skip`` (``--skip-unbuildable``) a dataset that cannot be
    built is left out instead: returns {dataset: why} of those (an error when none is left)."""
    from lossbench.losses import build_loss

    skipped: dict[str, str] = {}
    for entry in suite.datasets:
        try:
            prepared = replicate_data(suite, entry, 0, cache_dir)
            counts = [int(c) for c in prepared.train_counts]
            for loss in suite.trained:
                params = {k: v for k, v in loss.fixed.items()}
                build_loss(loss.registry_name, num_classes=len(counts), class_counts=counts,
                           **params)
        except UserError as error:
            if not skip:
                raise UserError(f"dataset {entry.name!r} cannot be built: {error}") from None
            skipped[entry.name] = str(error)
    if skipped and len(skipped) == len(suite.datasets):
        reasons = "; ".join(f"{name!r}: {why}" for name, why in skipped.items())
        raise UserError(f"no dataset of suite {suite.name!r} can be built: {reasons}")
    return skipped


def without(suite: Suite, skipped: dict[str, str]) -> Suite:
    """``suite`` less the datasets ``preflight`` skipped (itself when none was)."""
    if not skipped:
        return suite
    return replace(suite, datasets=tuple(e for e in suite.datasets if e.name not in skipped))


def tune_all(plans: list[StudyPlan], data: TrainValData, session: Session,
             progress: Progress) -> dict[str, dict]:
    """Tune every plan to the budget's trials; returns the chosen trial of each loss."""
    chosen = {}
    for plan in plans:
        label = f"{plan.loss.name} r{plan.replicate}"
        study, _ = tune_study(plan, data, session, plan.budget.trials, progress, label)
        name, store = plan.loss.name, session.store
        store.write_csv(store.trials_csv(plan.dataset.name, name, plan.replicate),
                        trials_frame(study))
        record = {"study": study.study_name, "storage": redact(session.storage_url),
                  "trials": plan.budget.trials, "fingerprint": plan.fingerprint,
                  "replicate": plan.replicate, "search_space": search_space(plan)}
        try:
            params, value, number = best_params(study, plan.budget.trials)
            record.update(params=params, val_macro_f1=value, trial=number)
            progress.note(f"{plan.dataset.name} | {label}: best validation macro-F1 "
                          f"{value:.4f} (trial {number}) with "
                          + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))
        except NoCompleteTrial as error:  # every trial diverged: report it, retrain nothing
            record["failed"] = str(error)
            progress.note(f"{plan.dataset.name} | {label}: tuning failed: {error}")
        chosen[name] = record
        store.write_json(store.chosen_json(plan.dataset.name, name, plan.replicate), record)
    return chosen


def search_space(plan: StudyPlan) -> dict[str, dict]:
    """The ranges the study searched, as JSON (the report flags choices near a bound)."""
    space = {"lr": {"kind": "float", "low": plan.optim.lr[0], "high": plan.optim.lr[1],
                    "log": True},
             "weight_decay": {"kind": "float", "low": plan.optim.weight_decay[0],
                              "high": plan.optim.weight_decay[1], "log": True}}
    for name, spec in dict(loss_info(plan.loss.registry_name).search_space).items():
        if name not in plan.loss.fixed:
            space[name] = {"kind": spec.kind, "low": spec.low, "high": spec.high,
                           "log": bool(spec.log), "choices": list(spec.choices)}
    return space


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def final_all(plans: list[StudyPlan], chosen: dict[str, dict], data: TrainValData, prepared: Any,
              session: Session, progress: Progress, posthoc: bool = False,
              suite_seed: int = 0) -> None:
    """Retrain every loss's chosen parameters with the replicate's final seeds and score on test
    (with ``posthoc``, the cross-entropy run also gives the ``ce+posthoc`` record); stored runs
    are skipped."""
    store = session.store
    for plan in plans:
        label = f"{plan.loss.name} r{plan.replicate}"
        if "failed" in chosen[plan.loss.name]:
            progress.show(plan.dataset.name, label, "no complete trial: no final run")
            progress.advance(plan.budget.seeds)
            continue
        params = chosen[plan.loss.name]["params"]
        with_posthoc = posthoc and plan.loss.name == "ce"
        for seed in final_seeds(plan.budget.seeds, plan.replicate, suite_seed):
            run_fingerprint = fingerprint({"plan": plan.settings(), "params": params,
                                           "seed": seed})
            stored = store.load_run(plan.dataset.name, plan.loss.name, plan.replicate, seed,
                                    run_fingerprint)
            if stored and (not with_posthoc or store.load_run(
                    plan.dataset.name, POSTHOC, plan.replicate, seed, f"{run_fingerprint}+posthoc")):
                progress.show(plan.dataset.name, label, f"final run seed {seed} stored")
                progress.advance()
                continue
            progress.show(plan.dataset.name, label, f"final run seed {seed}")
            for record in final_run(plan, params, seed, data, prepared, session.device,
                                    run_fingerprint, posthoc=with_posthoc):
                store.save_run(record)
            progress.advance()


def write_protocol(store: ResultStore, entry: DatasetEntry, prepared: Any, data: TrainValData,
                   plan: StudyPlan) -> None:
    """Splits, sizes and settings of one dataset, for the report (after its final runs)."""
    store.write_json(store.dataset_json(entry.name), {
        "name": entry.name, "spec": entry.spec.to_dict(), "kind": data.kind, "model": plan.model,
        "budget": asdict(plan.budget),
        "num_classes": data.num_classes, "class_names": data.class_names,
        "input_shape": list(data.input_shape), "counts": prepared.counts(),
        "description": prepared.description})


def run_dataset(suite: Suite, entry: DatasetEntry, session: Session, options: RunOptions,
                progress: Progress, share: Share = WHOLE) -> None:
    """Every replicate of one dataset (the losses of ``share``): tune them, then (unless tuning
    only) their final runs."""
    taken = units(suite, share)
    for replicate in range(suite.budget_for(entry).replicates):
        indexes = taken.get((entry.name, replicate))
        if not indexes:
            continue
        progress.show(entry.name, f"r{replicate}", "preparing data")
        prepared = replicate_data(suite, entry, replicate, options.cache_dir)
        data = train_val_view(prepared).to(session.device)
        every = plans_for(suite, entry, data, replicate)
        plans = [every[index] for index in indexes]
        chosen = tune_all(plans, data, session, progress)
        if options.tune_only:
            continue
        final_all(plans, chosen, data, prepared, session, progress,
                  posthoc=POSTHOC in suite.baselines, suite_seed=suite.seed)
        if replicate == 0 and indexes[0] == 0:
            write_protocol(session.store, entry, prepared, data, every[0])


def run_suite(suite: Suite, options: RunOptions) -> Path:
    """Run ``suite`` end to end and return its results folder.

    Nothing is written before every dataset has been built and the storage opens, so bad input
    (a data root, a storage URL) leaves a results folder as it was.
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    suite = suite.for_device(resolve_device(options.device).type)
    helper = options.share.index > 0  # a helper: its share only, nothing the parent writes
    skipped = {} if helper else preflight(suite, options.cache_dir, options.skip_unbuildable)
    for name, why in skipped.items():
        print(f"lossbench: skipping dataset {name!r}, it cannot be built: {why}", file=sys.stderr)
    listed, suite = suite, without(suite, skipped)  # the suite as stored; the datasets that run
    session = open_session(device=options.device, threads=options.threads,
                           cpu_threads=suite.cpu_threads, workers=options.workers,
                           storage=options.storage, results=options.out or Path("results")
                           / suite.name, heartbeat_interval=options.heartbeat_interval,
                           grace_period=options.grace_period,
                           processes=options.share.count if helper else options.workers)
    if not options.tune_only:
        check_same_suite(session.store, suite)
    share = options.share if helper else Share(0, options.workers)
    progress = Progress(total_steps(suite, options.tune_only, share), enabled=options.progress)
    if options.workers > 1 and not helper:
        progress.note(f"{options.workers} worker processes, each with its share of the studies; "
                      "this display counts this process's share")
    problems: list[str] = []
    only = ["--datasets", ",".join(e.name for e in suite.datasets)] if skipped else []
    argvs = [[*options.worker_argv, *only, "--share", f"{index}/{options.workers}"]
             for index in range(1, options.workers)] if not helper else []
    try:
        with helpers(argvs, session.storage_url, problems):
            if not options.tune_only and not helper:
                write_suite(session.store, listed, session.device.type)
                session.store.write_skipped([e.name for e in listed.datasets], skipped)
            for entry in suite.datasets:
                run_dataset(suite, entry, session, options, progress, share)
    finally:
        progress.close()
    for problem in problems:
        print(f"lossbench: {problem}", file=sys.stderr)
    if problems:  # a helper's share may be unfinished: this process completes it
        print("lossbench: finishing the helpers' unfinished studies here", file=sys.stderr)
        for entry in suite.datasets:
            run_dataset(suite, entry, session, options, Progress(0, enabled=False))
    if options.tune_only or helper:
        return session.store.root
    session.store.write_aggregates()
    write_environment(session.store, session.device, session.storage_url, started_at,
                      time.perf_counter() - started, workers=options.workers)
    if options.report:
        from lossbench.report import build_report

        build_report(session.store.root)
    return session.store.root


def check_same_suite(store: ResultStore, suite: Suite) -> None:
    """Refuse to write a suite into a folder that holds another suite's results. A
    ``suite.json`` that cannot say whose results they are (not JSON, a JSON list or string, a
    name that is not text) is a ``DamagedFile`` naming it and what to do, raised before anything
    is written (one line, exit 2)."""
    if store.suite_json.is_file():
        record = store.read_json(store.suite_json)  # not JSON: DamagedFile naming the file
        if not isinstance(record, dict):
            raise store.damaged(store.suite_json, f"it holds {_json_kind(record)}, not a JSON "
                                                  "object with the suite's name")
        stored = record.get("name")
        if stored is not None and not isinstance(stored, str):
            raise store.damaged(store.suite_json, f"its 'name' is {_json_kind(stored)}, not text")
        if stored not in (None, suite.name):
            raise UserError(f"results folder {str(store.root)!r} holds suite {stored!r}, not "
                            f"{suite.name!r}; choose another --out")


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words ("a JSON list")."""
    kinds = ((bool, "a JSON boolean"), (str, "a JSON string"), (list, "a JSON list"),
             (dict, "a JSON object"), ((int, float), "a JSON number"))
    if value is None:
        return "JSON null"
    return next((kind for types, kind in kinds if isinstance(value, types)), "no JSON value")


def write_suite(store: ResultStore, suite: Suite, device_type: str) -> None:
    """The suite as run: its TOML and a summary (read by the report). Losses and datasets of
    earlier invocations into the same folder (a subset run) are kept in the lists."""
    previous = store.read_json(store.suite_json, default={})

    def merged(key: str, names: list[str]) -> list[str]:
        kept = previous.get(key, [])
        return kept + [n for n in names if n not in kept]

    store.write_text(store.suite_toml, suite.source_text)
    store.write_json(store.suite_json, {
        "name": suite.name, "description": suite.description, "toml": suite.source_text,
        "device_type": device_type, "seed": suite.seed, "rope": suite.rope,
        "datasets": merged("datasets", [d.name for d in suite.datasets]),
        "losses": merged("losses", [loss.name for loss in suite.losses]),
        "baselines": merged("baselines", list(suite.baselines)),
        "budget": asdict(suite.budget), "model": asdict(suite.model),
        "optim": asdict(suite.optim)})


def write_environment(store: ResultStore, device: Any, storage: str, started_at: str,
                      wall_seconds: float, workers: int | None = None) -> None:
    """Versions, device, commit, and this invocation's wall time (earlier ones kept)."""
    previous = store.read_json(store.environment_json, default={})
    invocations = previous.get("invocations", []) + [
        {"started_at": started_at, "wall_seconds": round(wall_seconds, 2)}]
    store.write_json(store.environment_json, {
        **environment.describe(device), "storage": redact(storage), "invocations": invocations,
        "wall_seconds": round(wall_seconds, 2),
        **({"workers": workers} if workers is not None else {})})
