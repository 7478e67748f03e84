"""Study storages: SQLite or PostgreSQL (any SQLAlchemy URL) with heartbeats, or a journal file.

``open_storage(url)`` turns what ``--storage`` says into an Optuna storage:

- ``sqlite:///results/x/studies.db`` (the default, one machine), ``postgresql://user@host/db`` (many
  machines; the driver is ``psycopg2``, ``pip install 'lossbench[postgres]'``) or any other URL
  SQLAlchemy knows: an ``RDBStorage`` whose running trials record a heartbeat every
  ``heartbeat_interval`` seconds. A trial whose heartbeat is older than ``grace_period`` (its
  worker died, lost power or its network) is marked FAIL by the next worker that looks, and
  ``RetryFailedTrialCallback`` queues a copy with the same parameters for any worker to run.
- ``journal:PATH``: Optuna's journal file (``JournalStorage`` with a ``JournalFileBackend`` and an
  open-file lock), for several processes on one machine without a database server. It has no
  heartbeat; a worker's dead process is found from the process table instead
  (``lossbench.tuning.workers``). A last record torn by a power cut is cut off before anything is
  appended (``lossbench.tuning.journal_tail``).

Engines (``lossbench.tuning.storage_engine``): PostgreSQL connects within 10 s and runs a statement
within 60 s; SQLite runs in write-ahead-log mode. A failing storage during a run is one line naming
it, after a bounded retry of transient errors (``lossbench.tuning.storage_errors``).

A URL may hold a password. It is never printed, logged or stored: every message and every file
shows ``redact(url)`` (``postgresql://user:***@host/db``), and ``hide_secrets`` scrubs the
passwords of every storage opened in this process from any text (the command line passes its
error messages through it). Better still, leave the password out of the URL: libpq reads
``PGPASSWORD`` and ``~/.pgpass``, and ``LOSSBENCH_STORAGE`` keeps the URL off the command line.
"""

from __future__ import annotations

import copy
import inspect
import random
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from lossbench.errors import UserError
from lossbench.redaction import hide_secrets, redact, remember_secrets
from lossbench.tuning import storage_errors
from lossbench.tuning.journal_tail import cut_torn_tail
from lossbench.tuning.storage_engine import (
    engine_kwargs,
    is_open_race,
    quiet_interrupted_resets,
    with_driver,
    write_ahead_log,
)
from lossbench.tuning.storage_errors import first_line

if TYPE_CHECKING:  # imported where used: the command line starts without optuna
    import optuna

HEARTBEAT_INTERVAL = 30
"""Seconds between two heartbeats of a running trial (RDB storages)."""
GRACE_PERIOD = 120
"""Seconds without a heartbeat after which a running trial counts as dead."""
MAX_RETRY = 2
"""How many times a trial whose worker died is queued again with the same parameters."""
JOURNAL_PREFIX = "journal:"
STORAGE_FORMS = ("sqlite:///PATH", "postgresql://USER@HOST[:PORT]/DB", "journal:PATH")

def check_heartbeat(heartbeat_interval: int, grace_period: int) -> None:
    """Both positive whole seconds, and the grace period longer than the interval (otherwise a
    live trial between two heartbeats would look dead)."""
    for name, value in (("--heartbeat-interval", heartbeat_interval),
                        ("--grace-period", grace_period)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 86_400:
            raise UserError(f"{name} must be a whole number of seconds from 1 to 86400, "
                            f"got {value!r}")
    if grace_period <= heartbeat_interval:
        raise UserError(f"--grace-period ({grace_period} s) must be longer than "
                        f"--heartbeat-interval ({heartbeat_interval} s)")


def is_journal(url: str) -> bool:
    return url.startswith(JOURNAL_PREFIX)


def open_storage(url: str, heartbeat_interval: int = HEARTBEAT_INTERVAL,
                 grace_period: int = GRACE_PERIOD) -> optuna.storages.BaseStorage:
    """The Optuna storage ``url`` names; a bad or unreachable one is a UserError (redacted)."""
    if not isinstance(url, str) or not url.strip():
        raise UserError(f"--storage must be a storage URL ({', '.join(STORAGE_FORMS)}), "
                        f"got {url!r}")
    remember_secrets(url)
    check_heartbeat(heartbeat_interval, grace_period)
    if is_journal(url):
        return _open_journal(url)
    if "://" not in url:
        raise UserError(f"--storage {redact(url)!r} is not a storage URL; use one of "
                        f"{', '.join(STORAGE_FORMS)}")
    return _open_rdb(with_driver(url), redact(url), heartbeat_interval, grace_period)


def _open_journal(url: str) -> optuna.storages.BaseStorage:
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    path = Path(url[len(JOURNAL_PREFIX):]).expanduser()
    if not str(path) or path.is_dir() or url.endswith("/"):
        raise UserError(f"journal storage {url!r} must name a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        cut_torn_tail(path, url)  # a write cut short by a power cut: before anything appends
        backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
        storage = storage_errors.guarded(JournalStorage)(backend)
        setattr(storage, storage_errors.SHOWN_ATTR, url)
        return storage
    except UserError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as error:  # JSON errors are ValueErrors
        raise UserError(f"cannot open journal storage {url!r}: it is not an Optuna journal "
                        f"file or cannot be read ({first_line(error)})") from None


RUN_ATTRS = ("worker", "failed_reason", "pruned_reason", "surplus", "train_seconds")
"""User attributes that describe one run of a trial, not its parameters: a retry starts without."""


class RetryDeadWorkerTrial:
    """Optuna's ``RetryFailedTrialCallback`` (``RetryHeartbeatStaleTrialCallback`` since 4.9):
    queue a trial whose worker died again, with the same parameters, at most ``MAX_RETRY``
    times; the copy leaves out the dead run's own attributes (its worker, its reasons)."""

    def __init__(self) -> None:
        import optuna

        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
            or optuna.storages.RetryFailedTrialCallback
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry = retry(max_retry=MAX_RETRY)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        import optuna

        trial = copy.deepcopy(trial)
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in RUN_ATTRS}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry(study, trial)


def _open_rdb(url: str, shown: str, heartbeat_interval: int,
              grace_period: int) -> optuna.storages.BaseStorage:
    """An ``RDBStorage`` for ``url`` (with its driver); messages name it as ``shown``."""
    import optuna
    import sqlalchemy.exc

    kwargs = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
    parameters = inspect.signature(optuna.storages.RDBStorage).parameters
    key = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in parameters
           else "failed_trial_callback")
    kwargs[key] = RetryDeadWorkerTrial()
    rdb = storage_errors.guarded(optuna.storages.RDBStorage)
    quiet_interrupted_resets()  # Ctrl-C inside the pool: the command's one line, no traceback
    # Several workers starting at once on a fresh database race to create Optuna's tables
    # (``is_open_race``); the tables exist by the next attempt.
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                warnings.simplefilter("ignore", FutureWarning)
                storage = rdb(url, engine_kwargs=engine_kwargs(url), **kwargs)
                if url.startswith("sqlite"):
                    write_ahead_log(storage)
                setattr(storage, storage_errors.SHOWN_ATTR, shown)
                return storage
        except sqlalchemy.exc.SQLAlchemyError as error:
            if not is_open_race(error) or attempt == 5:
                raise UserError(f"cannot open storage {shown}: "
                                f"{hide_secrets(first_line(error))}") from None
            time.sleep(0.2 + random.random())
        except ModuleNotFoundError as error:
            raise UserError(f"storage {shown} needs the database driver {error.name!r}; "
                            f"for PostgreSQL: pip install 'lossbench[postgres]' "
                            f"(psycopg2-binary)") from None
        except Exception as error:  # noqa: BLE001  bad URL, refused connection, bad password …
            raise UserError(f"cannot open storage {shown}: "
                            f"{hide_secrets(first_line(error))}") from None
    raise AssertionError("unreachable")


# The one adapter over Optuna's private internals (``study._storage``, ``trial._trial_id``): the
# same calls ``optuna.storages.fail_stale_trials`` makes. Nothing else in lossbench touches them.

def is_journal_storage(study: optuna.Study) -> bool:
    """True when ``study`` lives in a journal file (no heartbeat)."""
    from optuna.storages.journal import JournalStorage

    return isinstance(study._storage, JournalStorage)


def without_constant_liar(sampler: optuna.samplers.BaseSampler) -> None:
    """Turn off TPE's constant liar (on by default since Optuna 5). The liar counts the other
    workers' RUNNING trials as bad results so that parallel trials spread out; with no other
    trial running it has nothing to count and TPE samples exactly what it would without it, but
    it still reads the study once more per trial (bypassing the trial's snapshot) and writes its
    relative parameters as a system attribute. Used only when no other trial is running."""
    import optuna

    if isinstance(sampler, optuna.samplers.TPESampler) and hasattr(sampler, "_constant_liar"):
        sampler._constant_liar = False


def study_key(study: optuna.Study) -> tuple[optuna.storages.BaseStorage, int]:
    """The storage object ``study`` lives in and its id there."""
    return study._storage, study._study_id


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of ``trial`` (not its number within the study)."""
    return trial._trial_id


def trial_state(study: optuna.Study, trial_id: int) -> optuna.trial.TrialState:
    """The stored state of the trial with id ``trial_id``, read afresh from the storage."""
    return study._storage.get_trial(trial_id).state


def trials_of_this_trial(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's trials, read now, and kept by Optuna as the running trial's snapshot of the
    study (``Study._get_trials(use_cache=True)``: its sampler reads the same list instead of
    reading the study again); ``study.get_trials`` where that cache is missing."""
    getter = getattr(study, "_get_trials", None)
    if getter is None:
        return study.get_trials(deepcopy=False)
    try:
        return getter(deepcopy=False, use_cache=True)
    except TypeError:
        return study.get_trials(deepcopy=False)


def tell(study: optuna.Study, trial: optuna.Trial, value: float | None,
         state: optuna.trial.TrialState | None) -> None:
    """``study.tell(trial, value, state=state)`` as ``study.optimize`` tells a trial: without a
    warning for a NaN value (told FAIL), and without reading the finished trial back."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:  # another Optuna: the public call
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study.tell(trial, value, state=state)
        return
    _tell_with_warning(study, trial, value, state, suppress_warning=True)


def frozen_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """A fresh copy of ``trial`` as stored now."""
    return copy.deepcopy(study._storage.get_trial(trial._trial_id))


def fail_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> bool:
    """Mark the RUNNING ``trial`` FAIL with ``reason`` (user attribute ``failed_reason``);
    False when another worker finished or failed it first."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    try:  # the reason first: a finished trial takes no attribute
        storage.set_trial_user_attr(trial._trial_id, "failed_reason", reason)
        return bool(storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def write_trial_records(study: optuna.Study, trial_id: int, intermediate: dict[int, float],
                        user_attrs: dict | None = None, heartbeat: bool = False) -> None:
    """Store several intermediate values (step → value, steps not stored yet) and user attributes
    of the RUNNING trial ``trial_id`` at once, with its heartbeat when ``heartbeat`` (on a
    storage that has heartbeats): one transaction on an RDB storage, one append to a journal
    file, the public per-value calls on any other storage. Raises ``UpdateFinishedTrialError``
    when the trial was finished meanwhile (another worker declared it dead), as those calls do."""
    user_attrs = user_attrs or {}
    if not intermediate and not user_attrs and not heartbeat:
        return
    backend = study._storage
    backend = getattr(backend, "_backend", backend)  # RDBStorage under Optuna's _CachedStorage
    writer = _rdb_writer(backend) or _journal_writer(backend)
    if writer is not None:  # its errors as those of the storage's own calls
        storage_errors.call(backend, writer, trial_id, intermediate, user_attrs, heartbeat)
        return
    for step, value in intermediate.items():
        study._storage.set_trial_intermediate_value(trial_id, step, value)
    for key, value in user_attrs.items():
        study._storage.set_trial_user_attr(trial_id, key, value)
    if heartbeat and heartbeat_interval(study) is not None:
        study._storage.record_heartbeat(trial_id)


def heartbeat_interval(study: optuna.Study) -> int | None:
    """Seconds between two heartbeats of ``study``'s running trials; None without heartbeats."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return study._storage.get_heartbeat_interval() if is_heartbeat_enabled(study._storage) \
        else None


def record_heartbeat(study: optuna.Study, trial_id: int) -> None:
    """The running trial ``trial_id`` is alive now (a failure warns once: ``storage_errors``)."""
    study._storage.record_heartbeat(trial_id)


def _rdb_writer(backend):
    """One transaction: the trial's state checked once (as each of Optuna's calls checks it),
    the new intermediate values inserted together (a step stored already is an IntegrityError,
    raised), the attributes through the helper ``RDBStorage.set_trial_user_attr`` uses, the
    heartbeat as ``RDBStorage.record_heartbeat`` writes it."""
    import optuna
    import sqlalchemy

    if not isinstance(backend, optuna.storages.RDBStorage):
        return None
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
        set_attr = backend._set_trial_attr_without_commit
        value_model, user_model = models.TrialIntermediateValueModel, models.TrialUserAttributeModel
        beat_model = models.TrialHeartbeatModel
        stored_repr = value_model.intermediate_value_to_stored_repr
        find_trial = models.TrialModel.find_or_raise_by_id
    except (ImportError, AttributeError):  # another Optuna: the public calls
        return None

    def write(trial_id: int, intermediate: dict[int, float], user_attrs: dict,
              heartbeat: bool) -> None:
        with _create_scoped_session(backend.scoped_session) as session:
            trial = find_trial(trial_id, session)
            backend.check_trial_is_updatable(trial_id, trial.state)
            for step, value in intermediate.items():
                stored, kind = stored_repr(value)
                session.add(value_model(trial_id=trial_id, step=step, intermediate_value=stored,
                                        intermediate_value_type=kind))
            for key, value in user_attrs.items():
                set_attr(session, user_model, trial_id, key, value)
            if heartbeat and backend.get_heartbeat_interval() is not None:
                beat = beat_model.where_trial_id(trial_id, session, True)  # as record_heartbeat
                if beat is None:
                    session.add(beat_model(trial_id=trial_id))  # stamped by the database's clock
                else:
                    beat.heartbeat = session.execute(sqlalchemy.func.now()).scalar_one()

    return write


def _journal_writer(backend):
    """The log lines the per-value calls would write, appended together under the lock."""
    from optuna.storages.journal import JournalStorage

    if not isinstance(backend, JournalStorage):
        return None
    try:
        from optuna.storages.journal._storage import JournalOperation
        value_op = JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE
        attr_op = JournalOperation.SET_TRIAL_USER_ATTR
    except (ImportError, AttributeError):
        return None
    if not all(hasattr(backend, name) for name in
               ("_thread_lock", "_replay_result", "_backend", "_sync_with_backend")):
        return None

    def write(trial_id: int, intermediate: dict[int, float], user_attrs: dict,
              heartbeat: bool) -> None:  # a journal file has no heartbeat
        if not intermediate and not user_attrs:
            return
        with backend._thread_lock:
            worker = backend._replay_result.worker_id
            logs = [{"op_code": value_op, "worker_id": worker, "trial_id": trial_id,
                     "step": step, "intermediate_value": value}
                    for step, value in intermediate.items()]
            logs += [{"op_code": attr_op, "worker_id": worker, "trial_id": trial_id,
                      "user_attr": {key: value}} for key, value in user_attrs.items()]
            backend._backend.append_logs(logs)
            backend._sync_with_backend()

    return write
