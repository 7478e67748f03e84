"""One trial, as ``study.optimize(objective, n_trials=1, catch=...)`` runs it, with fewer storage
calls around it.

Optuna's optimize loop, for every trial on a database storage, reads the study's stale trials,
asks, starts a heartbeat thread that records a heartbeat at once (its own transaction), runs the
objective, tells, and reads the finished trial back once more: on SQLite each of those costs a
few milliseconds of SQLAlchemy, a noticeable share of a small model's trial. Here:

- the stale-trial check (``optuna.storages.fail_stale_trials``: trials whose heartbeat is older
  than the grace period are failed and queued again) runs before the first trial of a worker and
  then at most once a heartbeat interval (``StaleCheck``), not before every trial: a dead
  worker's trial is still found within the grace period plus one interval;
- the first heartbeat is written in the transaction that claims the trial for its worker (the
  objective's ``claim``, ``lossbench.tuning.storage.write_trial_records(heartbeat=True)``), and the
  heartbeat thread (``heartbeats``) records the next ones every interval, as Optuna's does;
- the trial is told its state once, and not read back.

What the study holds is what ``study.optimize`` stores: the same trial, states, values and
attributes (``tests/test_tune_reliability.py`` and the crash tests check the guarantees).
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
import weakref
from collections.abc import Callable

import optuna
from lossbench.tuning import storage
from optuna.trial import TrialState


def run_one(study: optuna.Study, objective: Callable[[optuna.Trial], float],
            catch: tuple[type[Exception], ...] = ()) -> None:
    """Ask, run ``objective``, tell; an error of the objective that is not in ``catch`` is raised
    after the trial is told FAIL (``optuna.TrialPruned``: told PRUNED; a NaN value: told FAIL)."""
    with warnings.catch_warnings():  # the heartbeat thread is ours, not optimize's
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        trial = study.ask()
    state, value, error = None, None, None
    with heartbeats(study, storage.trial_id(trial)):
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except (Exception, KeyboardInterrupt) as caught:  # noqa: BLE001  told, then raised
            state, error = TrialState.FAIL, caught
    storage.tell(study, trial, value, state)  # a NaN value: told FAIL, as optimize does
    if error is not None and not isinstance(error, catch):
        raise error


@contextlib.contextmanager
def heartbeats(study: optuna.Study, trial_id: int):
    """While the block runs, record the trial's heartbeat every heartbeat interval (the first
    one is the claim's); nothing on a storage without heartbeats."""
    interval = storage.heartbeat_interval(study)
    if interval is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(study, trial_id)

    thread = threading.Thread(target=beat, name=f"lossbench-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


_LAST_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""storage → {study id → ``time.monotonic()`` of its last stale-trial check in this process}."""


class StaleCheck:
    """``optuna.storages.fail_stale_trials`` at the first call in this process for the study,
    then at most once a heartbeat interval (shared by every ``StaleCheck`` of the study in this
    process); never on a storage without heartbeats (``lossbench.tuning.workers`` looks after
    those)."""

    def __init__(self, study: optuna.Study) -> None:
        self.study, self.interval = study, storage.heartbeat_interval(study)
        where, self.study_id = storage.study_key(study)
        self.last = _LAST_CHECKED.setdefault(where, {})

    def __call__(self, now: bool = False) -> bool:
        """Check when due, or ``now`` (a worker waiting on others' running trials); True when
        it checked (trials may have changed state)."""
        if self.interval is None:
            return False
        clock, study_id = time.monotonic(), self.study_id
        if not now and study_id in self.last and clock - self.last[study_id] < self.interval:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        self.last[study_id] = clock
        return True
