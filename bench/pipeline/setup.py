"""The one setup that ``lossbench run`` and ``lossbench tune`` share.

``open_session`` resolves the device and the CPU threads, checks ``--workers``, opens the study
storage (``--storage``, ``$LOSSBENCH_STORAGE`` or the results folder's SQLite file) and quiets
Optuna; nothing is written before the storage opens. ``helpers`` starts and always reaps the
``--workers`` helper processes; ``tune_study`` brings one study to its target with a progress line;
``helper_argv`` builds a helper's command line; ``load_prepared`` is the one place data is loaded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from lossbench.config.datasets import DatasetEntry
from lossbench.config.plan import StudyPlan
from lossbench.engine.data import TrainValData
from lossbench.engine.device import resolve_device, set_threads
from lossbench.errors import UserError
from lossbench.progress import Progress
from lossbench.store import ResultStore
from lossbench.tuning.storage import open_storage
from lossbench.tuning.study import FINISHED, open_study, quiet_optuna
from lossbench.tuning.trials import run_trials
from lossbench.tuning.workers import STORAGE_ENV, spawn, stop_all, wait_all

MAX_WORKERS = 256


@dataclass
class Session:
    """What every stage of one invocation works with."""

    device: torch.device
    store: ResultStore
    storage_url: str
    storage: optuna.storages.BaseStorage
    grace_period: int


def check_workers(workers: int) -> None:
    """``--workers``: a whole number from 1 to 256."""
    if isinstance(workers, bool) or not isinstance(workers, int) \
            or not 1 <= workers <= MAX_WORKERS:
        raise UserError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, "
                        f"got {workers!r}")


def open_session(*, device: str, threads: int | None, cpu_threads: int | None, workers: int,
                 storage: str | None, results: Path, heartbeat_interval: int,
                 grace_period: int, processes: int | None = None) -> Session:
    """Device, threads, storage and results folder of one invocation (``cpu_threads``: the
    suite's ``[cpu] threads``, used on a CPU unless ``threads`` says otherwise; ``processes``:
    how many lossbench processes of this invocation share the machine's cores, ``workers`` when
    not given)."""
    resolved = resolve_device(device)
    check_workers(workers)
    if threads is None and resolved.type == "cpu":
        threads = cpu_threads if cpu_threads is not None \
            else threads_per_process(processes or workers)
    set_threads(threads)
    store = ResultStore(results)
    url = storage or os.environ.get(STORAGE_ENV) or store.studies_url()
    opened = open_storage(url, heartbeat_interval, grace_period)
    quiet_optuna()
    return Session(resolved, store, url, opened, grace_period)


def threads_per_process(processes: int) -> int | None:
    """Torch threads of each of ``processes`` CPU processes that share this machine: its cores
    divided among them (at least one each); None (torch's own choice) for a single process.
    Without this each process would start one OpenMP thread per core, and N processes would
    oversubscribe the cores N times over: OpenMP threads spin while they wait for each other, and
    a CIFAR-10-LT trial of two such workers on two cores took 250-340 s against 60-90 s on one
    thread each (3-5x, both while other work shared the cores)."""
    if processes <= 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // processes)


@contextlib.contextmanager
def helpers(argvs: list[list[str]], storage_url: str,
            problems: list[str]) -> Iterator[None]:
    """Run a helper process of ``lossbench argv`` for each of ``argvs`` beside the block, then
    wait for them; each one that did not exit 0 adds a line to ``problems``. When the block or
    the wait fails (an error, Ctrl-C, SIGTERM: the parent is often waiting here when the signal
    comes) they are stopped and reaped before the exception goes on: none is left running."""
    processes = spawn(argvs, storage_url) if argvs else []
    try:
        yield
        problems.extend(wait_all(processes))
    except BaseException:
        stop_all(processes)
        raise


def helper_argv(command: list[str], flags: dict[str, Any]) -> list[str]:
    """A helper's command line: ``command`` then ``--flag value`` for every value that is not
    None (True: the flag alone). The storage URL goes by environment, never by argument."""
    argv = list(command)
    for flag, value in flags.items():
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


def load_prepared(entry: DatasetEntry, seed: int, cache_dir: Path | None) -> Any:
    """``lossbench.datasets.prepare`` for one suite entry (the one place data is loaded)."""
    from lossbench.datasets import prepare

    return prepare(entry.spec, seed=seed, cache_dir=cache_dir)


def best_value(trials: list[optuna.trial.FrozenTrial]) -> float | None:
    values = [t.value for t in trials if t.state.name == "COMPLETE"]
    return max(values) if values else None


def tune_study(plan: StudyPlan, data: TrainValData, session: Session, target: int,
               progress: Progress, label: str, study_name: str | None = None,
               ) -> tuple[optuna.Study, int]:
    """Bring ``plan``'s study to ``target`` finished trials, showing progress under ``label``;
    returns the study and the trials run by this process (others' trials count too)."""
    study = open_study(plan, session.storage, study_name)
    stored = study.get_trials(deepcopy=False)
    shown = [min(target, sum(t.state in FINISHED for t in stored))]
    if shown[0]:
        progress.show(plan.dataset.name, label, f"{shown[0]} of {target} trials stored")
        progress.advance(shown[0])

    def show(trials: list[optuna.trial.FrozenTrial]) -> None:
        finished = [t for t in trials if t.state in FINISHED]
        done, best = min(len(finished), target), best_value(finished)
        if done > shown[0]:  # without a terminal: one line per finished trial, with the new best
            progress.show(plan.dataset.name, label, f"trial {done}/{target} finished", best)
            progress.advance(done - shown[0])
        shown[0] = done
        progress.show(plan.dataset.name, label, f"trial {min(done + 1, target)}/{target}", best)

    show(stored)
    ran = run_trials(study, plan, data, session.device, target, after_trial=show,
                     grace_period=session.grace_period)
    show(study.get_trials(deepcopy=False))
    return study, ran
