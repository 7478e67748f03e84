"""Running trials: the objective (sample, train, report, prune) and ``run_trials``, which any
number of workers run on one study until it holds exactly the target of finished trials."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable

import optuna
import torch
from lossbench.config.plan import StudyPlan
from lossbench.engine.data import TrainValData
from lossbench.engine.train import train
from lossbench.tuning import storage, storage_errors, workers
from lossbench.tuning.one_trial import StaleCheck, run_one
from lossbench.tuning.reports import EpochReports
from lossbench.tuning.space import sample_params
from lossbench.tuning.storage import GRACE_PERIOD, RetryDeadWorkerTrial
from lossbench.tuning.study import FINISHED, sampler_for
from optuna.trial import TrialState


def make_objective(plan: StudyPlan, data: TrainValData,
                   device: torch.device) -> Callable[..., float]:
    """The Optuna objective: sample, train, report each epoch (``EpochReports``: pruning decided
    in this process, the scores written in blocks), return validation macro-F1.

    ``objective(trial, trials)``: ``trials`` are the study's trials as read at the trial's start
    (``study.get_trials``; read here when None), for the repeated-point check and the pruner.
    """

    def objective(trial: optuna.Trial,
                  trials: list[optuna.trial.FrozenTrial] | None = None) -> float:
        if trials is None:
            trials = trial.study.get_trials(deepcopy=False)
        params = sample_params(trial, plan)
        # A point already trained (fixed lr and weight decay and nothing else to tune, or a
        # repeated categorical draw) trains with the same seed to the same score: reuse it.
        for done in trials:
            if done.state == TrialState.COMPLETE and done.params == trial.params:
                trial.set_user_attr("repeat_of", done.number)
                return float(done.value)

        reports = EpochReports(trial.study, trial, trials)

        def report(epoch: int, score: float) -> None:
            if reports.report(epoch, score):
                reason = f"median pruner after epoch {epoch} (validation macro-F1 {score:.4f})"
                reports.finish(pruned_reason=reason)
                raise optuna.TrialPruned(reason)

        try:
            result = train(data, plan.recipe(params), plan.budget.tune_seed, device,
                           on_epoch=report)
        except optuna.TrialPruned:
            raise
        except BaseException:
            reports.finish_quietly()  # the epochs it did run stay on record
            raise
        if result.diverged:
            reason = f"diverged: {result.diverged}"
            reports.finish(train_seconds=result.seconds, pruned_reason=reason)
            raise optuna.TrialPruned(reason)
        reports.finish(train_seconds=result.seconds)
        return result.best_score

    return objective


class SurplusTrial(Exception):
    """A trial that started when the study's target was already met by earlier trials."""


def _finished_or_ahead(trials: list[optuna.trial.FrozenTrial], number: int) -> int:
    """Finished trials, plus running ones numbered below ``number`` (they may finish first)."""
    return sum(1 for t in trials
               if t.state in FINISHED or (t.state == TrialState.RUNNING and t.number < number))


def run_trials(study: optuna.Study, plan: StudyPlan, data: TrainValData, device: torch.device,
               target: int,
               after_trial: Callable[[list[optuna.trial.FrozenTrial]], None] | None = None,
               poll_seconds: float = 1.0, grace_period: float = GRACE_PERIOD) -> int:
    """Run trials until the study holds ``target`` finished ones; returns how many ran here.

    Any number of workers, in this process or others, may run this on one study. Before each
    trial a worker counts finished and running trials: at the target it stops; when running
    trials would reach it, it waits (one of them may die and need a replacement). Two workers
    that pass the count together are told apart by trial number: a trial whose lower-numbered
    running and finished trials already reach the target is a surplus, marked FAIL before it
    trains (user attribute ``surplus``), so the study ends with exactly ``target`` finished trials.
    A trial whose worker died is failed and queued again: by the heartbeat of a database storage,
    from this machine's process table at start (and between trials on a journal file), and when
    no worker claimed it within ``grace_period`` seconds.

    ``after_trial(trials)`` is called after each trial run here with the study's trials as read
    then (the same read serves the next round's count: two reads of the study a trial, this one
    and the one Optuna makes when the trial starts).
    """
    objective = make_objective(plan, data, device)
    retry = RetryDeadWorkerTrial()
    has_heartbeat = not storage.is_journal_storage(study)
    outcome: dict[str, object] = {}  # how the trial ended, and the signal release

    guarded = _guarded(objective, study, target, workers.identity(), outcome)
    stale = StaleCheck(study)  # heartbeats older than the grace period: at most once an interval

    ran, first, trials = 0, True, None
    while True:
        if stale() or trials is None:  # else as read just after the last trial
            trials = study.get_trials(deepcopy=False)
        # a resumed run frees its own dead trials first; a journal file checks before each trial
        if workers.fail_dead_trials(study, retry, grace_period, local=first or not has_heartbeat,
                                    trials=trials):
            trials = study.get_trials(deepcopy=False)
        first = False
        finished = sum(t.state in FINISHED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if finished >= target:
            return ran
        if finished + running >= target:
            # Others' trials may fill the target, or die: a trial without heartbeat is failed
            # (and queued again) here.
            stale(now=True)
            time.sleep(poll_seconds)
            trials = None
            continue
        study.sampler = sampler_for(plan, finished + running)
        if not running:  # nothing for TPE's constant liar to count: it reads the trial's snapshot
            storage.without_constant_liar(study.sampler)
        outcome.clear()
        try:
            with _signals_held_until_claimed(outcome):
                run_one(study, guarded, catch=(SurplusTrial,))
        except Exception as error:
            failure = storage_errors.failure_in(error)
            if failure is not None:  # Optuna may raise another error while handling it
                raise failure
            # This worker was alive, but another one saw no heartbeat within the grace period
            # (a stalled network or database), failed its trial and queued it again: Optuna
            # refuses the late result; it is dropped and this worker goes on with the study.
            if not (outcome.get("taken") or _failed_by_others(study, outcome)):
                raise
            trials = None
            continue
        trials = None
        if not outcome.get("surplus"):
            ran += 1
            if after_trial is not None:  # one read, shared with the next round's count
                trials = study.get_trials(deepcopy=False)
                after_trial(trials)
        if outcome.get("finished") and finished + 1 >= target:
            return ran  # finished trials stay finished: the target is met without a read


def _guarded(objective, study: optuna.Study, target: int, worker: dict,
             outcome: dict) -> Callable[[optuna.Trial], float]:
    """The objective as Optuna runs it: the trial records its worker, a surplus trial (the
    target already met or under way) fails before training, and ``outcome`` says how it ended
    (finished, surplus, failed, or taken by another worker that declared this one dead)."""

    def guarded(trial: optuna.Trial) -> float:
        outcome["trial_id"] = storage.trial_id(trial)
        # the claim, with the trial's first heartbeat, in one storage call
        storage.write_trial_records(study, outcome["trial_id"], {}, {workers.WORKER_ATTR: worker},
                                    heartbeat=True)
        outcome.pop("release", lambda: None)()  # claimed: a held Ctrl-C/SIGTERM may act now
        trials = storage.trials_of_this_trial(study)  # the one read of the study in a trial
        if _finished_or_ahead(trials, trial.number) >= target:
            outcome["surplus"] = True
            trial.set_user_attr("surplus", f"the study already had {target} trials finished or "
                                           "under way when this one started; not run")
            raise SurplusTrial()
        try:
            value = objective(trial, trials)
        except optuna.TrialPruned:
            outcome["finished"] = True
            raise
        except optuna.exceptions.UpdateFinishedTrialError:
            outcome["taken"] = True  # declared dead by another worker while it trained
            raise
        except BaseException as error:  # Optuna marks it FAIL; the trials table says why
            outcome["failed"] = True
            message = (str(error).splitlines() or [""])[0]
            trial.set_user_attr("failed_reason", f"{type(error).__name__}: {message}".rstrip(": "))
            raise
        outcome["finished"] = math.isfinite(value)  # Optuna fails a trial whose value is NaN
        return value


    return guarded


@contextlib.contextmanager
def _signals_held_until_claimed(outcome: dict):
    """Hold Ctrl-C and SIGTERM from before Optuna creates the trial until the trial records its
    worker (``outcome["release"]``, called by the guarded objective) or the block ends; a signal
    that came meanwhile then acts. Without this, a signal during ``study.ask`` (the sampler fits
    there) leaves a RUNNING trial that names no worker, which a rerun can only fail after the
    grace period; after the claim, Optuna fails the interrupted trial itself and a rerun
    retries it at once. Main thread only (where Python runs signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signums}

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    def release() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in pending[:1]:  # the first one is the one to answer
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)  # Python's SIGINT handler or lossbench's SIGTERM one: raises
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)

    for signum in signums:
        if previous[signum] not in (signal.SIG_IGN, None):
            signal.signal(signum, hold)
    outcome["release"] = release
    try:
        yield
    finally:
        outcome.pop("release", lambda: None)()


def _failed_by_others(study: optuna.Study, outcome: dict) -> bool:
    """True when this worker's trial ended FAIL although its objective did not fail."""
    if "trial_id" not in outcome or outcome.get("failed") or outcome.get("surplus"):
        return False
    return storage.trial_state(study, outcome["trial_id"]) == TrialState.FAIL


