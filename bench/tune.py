"""Tuning: one Optuna study per (suite, dataset, loss), resumable, on any Optuna storage.

Each trial samples the shared learning rate and weight decay plus the loss's own search space,
trains with the suite's budget and returns the validation macro-F1 of the selected epoch; the median
pruner stops weak trials from the intermediate scores, and a trial whose loss diverges is pruned
with the reason kept in its ``pruned_reason`` attribute. ``--trials N`` is the number of finished
(complete or pruned) trials the study should hold: only the missing ones run.

The sampler is re-seeded before every trial from the number of finished trials, so an interrupted
and resumed study draws the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import optuna
import pandas as pd
import torch
from lossbench import loss_space, tune_workers
from lossbench.config import Budget, ModelConfig, OptimConfig
from lossbench.data import DatasetEntry, DevData
from lossbench.errors import UserError
from lossbench.store import fingerprint
from lossbench.suite import LossEntry
from lossbench.train import Recipe, train
from lossbench.tune_storage import GRACE_PERIOD, RetryDeadWorkerTrial, open_storage
from optuna.storages.journal import JournalStorage
from optuna.trial import TrialState

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


class NoCompleteTrial(RuntimeError):
    """Every finished trial of the budget was pruned or diverged: there is nothing to retrain."""


@dataclass(frozen=True)
class StudyPlan:
    """What one study tunes: a dataset, a loss and the suite's fixed settings."""

    suite: str
    dataset: DatasetEntry
    loss: LossEntry
    model: str
    budget: Budget
    model_config: ModelConfig
    optim: OptimConfig

    def settings(self) -> dict:
        """The settings a trial depends on (not the trial count), for the fingerprint."""
        budget = {k: v for k, v in asdict(self.budget).items()
                  if k not in ("trials", "seeds", "eval_batch_size")}
        return {"dataset": self.dataset.spec.to_dict(), "loss": self.loss.name,
                "fixed": self.loss.fixed, "model": self.model, "budget": budget,
                "model_config": asdict(self.model_config), "optim": asdict(self.optim)}

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.settings())

    @property
    def default_study_name(self) -> str:
        return f"{self.suite}/{self.dataset.name}/{self.loss.name}/{self.fingerprint}"

    def recipe(self, params: dict) -> Recipe:
        """The training recipe for sampled or best ``params`` (lr, weight_decay, loss params)."""
        loss_params = {**self.loss.fixed,
                       **{k: v for k, v in params.items() if k not in loss_space.SHARED_PARAMS}}
        return Recipe(loss=self.loss.name, loss_params=loss_params, lr=float(params["lr"]),
                      weight_decay=float(params["weight_decay"]), model=self.model,
                      budget=self.budget, model_config=self.model_config, optim=self.optim)


def open_study(plan: StudyPlan, storage: str | optuna.storages.BaseStorage,
               study_name: str | None = None) -> optuna.Study:
    """Create the study or join the existing one; refuse one that was made with other settings.

    ``storage`` is an opened storage (``lossbench.tune_storage.open_storage``) or its URL.
    """
    name = study_name or plan.default_study_name
    if isinstance(storage, str):
        storage = open_storage(storage)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=plan.budget.startup_trials,
                                         n_warmup_steps=plan.budget.prune_warmup_epochs)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                pruner=pruner, sampler=_sampler(plan, 0), load_if_exists=True)
    stored = study.user_attrs.get("fingerprint")
    if stored is None:
        study.set_user_attr("fingerprint", plan.fingerprint)
        study.set_user_attr("settings", plan.settings())
    elif stored != plan.fingerprint:
        raise UserError(f"study {name!r} in this storage was made with other settings (fingerprint "
                        f"{stored}, these are {plan.fingerprint}); use another --study name")
    return study


def _sampler(plan: StudyPlan, finished: int) -> optuna.samplers.TPESampler:
    seed = (plan.budget.tune_seed * 1_000_003 + finished) % 2**31
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=plan.budget.startup_trials)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete and pruned trials, in trial-number order."""
    return sorted(study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)


def make_objective(plan: StudyPlan, data: DevData,
                   device: torch.device) -> Callable[[optuna.Trial], float]:
    """The Optuna objective: sample, train, report each epoch, return validation macro-F1."""
    space = loss_space.tuned_space(plan.loss.name, plan.loss.fixed)

    def objective(trial: optuna.Trial) -> float:
        params = {"lr": trial.suggest_float("lr", *plan.optim.lr, log=True),
                  "weight_decay": trial.suggest_float("weight_decay", *plan.optim.weight_decay,
                                                      log=True)}
        for name, spec in space.items():
            params[name] = loss_space.suggest(trial, name, spec)
        # A point already trained (fixed lr and weight decay and nothing else to tune, or a
        # repeated categorical draw) trains with the same seed to the same score: reuse it.
        complete = (optuna.trial.TrialState.COMPLETE,)
        for done in trial.study.get_trials(deepcopy=False, states=complete):
            if done.params == trial.params:
                trial.set_user_attr("repeat_of", done.number)
                return float(done.value)

        def report(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                reason = f"median pruner after epoch {epoch} (validation macro-F1 {score:.4f})"
                trial.set_user_attr("pruned_reason", reason)
                raise optuna.TrialPruned(reason)

        result = train(data, plan.recipe(params), plan.budget.tune_seed, device, on_epoch=report)
        trial.set_user_attr("train_seconds", result.seconds)
        if result.diverged:
            trial.set_user_attr("pruned_reason", f"diverged: {result.diverged}")
            raise optuna.TrialPruned(f"diverged: {result.diverged}")
        return result.best_score

    return objective


class SurplusTrial(Exception):
    """A trial that started when the study's target was already met by earlier trials."""


def _finished_or_ahead(study: optuna.Study, number: int) -> int:
    """Finished trials, plus running ones numbered below ``number`` (they may finish first)."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in FINISHED or (t.state == TrialState.RUNNING and t.number < number))


class _QuietSurplus(logging.Filter):
    """Optuna logs every failed trial with its traceback; a surplus trial is no failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SurplusTrial))


logging.getLogger("optuna.study._optimize").addFilter(_QuietSurplus())


def run_trials(study: optuna.Study, plan: StudyPlan, data: DevData, device: torch.device,
               target: int, after_trial: Callable[[optuna.Study], None] | None = None,
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
    """
    objective = make_objective(plan, data, device)
    worker = tune_workers.identity()
    retry = RetryDeadWorkerTrial()
    has_heartbeat = not isinstance(study._storage, JournalStorage)
    tune_workers.fail_dead_trials(study, retry, grace_period)  # a resumed run frees its own
    outcome: dict[str, bool] = {}

    def guarded(trial: optuna.Trial) -> float:
        outcome["trial_id"] = trial._trial_id
        trial.set_user_attr(tune_workers.WORKER_ATTR, worker)
        if _finished_or_ahead(study, trial.number) >= target:
            outcome["surplus"] = True
            trial.set_user_attr("surplus", f"the study already had {target} trials finished or "
                                           "under way when this one started; not run")
            raise SurplusTrial()
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except optuna.exceptions.UpdateFinishedTrialError:
            outcome["taken"] = True  # declared dead by another worker while it trained
            raise
        except BaseException as error:  # Optuna marks it FAIL; the trials table says why
            outcome["failed"] = True
            message = (str(error).splitlines() or [""])[0]
            trial.set_user_attr("failed_reason", f"{type(error).__name__}: {message}".rstrip(": "))
            raise

    ran = 0
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # no-op without a heartbeat
        tune_workers.fail_dead_trials(study, retry, grace_period, local=not has_heartbeat)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if finished >= target:
            return ran
        if finished + running >= target:
            time.sleep(poll_seconds)  # others' trials may fill the target, or die
            continue
        study.sampler = _sampler(plan, finished + running)
        outcome.clear()
        try:
            study.optimize(guarded, n_trials=1, catch=(SurplusTrial,))
        except Exception:
            # This worker was alive, but another one saw no heartbeat within the grace period
            # (a stalled network or database), failed its trial and queued it again: Optuna
            # refuses the late result; it is dropped and this worker goes on with the study.
            if not (outcome.get("taken") or _failed_by_others(study, outcome)):
                raise
            continue
        if not outcome.get("surplus"):
            ran += 1
            if after_trial is not None:
                after_trial(study)


def _failed_by_others(study: optuna.Study, outcome: dict) -> bool:
    """True when this worker's trial ended FAIL although its objective did not fail."""
    if "trial_id" not in outcome or outcome.get("failed") or outcome.get("surplus"):
        return False
    return study._storage.get_trial(outcome["trial_id"]).state == TrialState.FAIL


def best_params(study: optuna.Study, budget_trials: int | None = None) -> tuple[dict, float, int]:
    """Parameters, value and number of the best complete trial among the first ``budget_trials``
    finished ones (all when None), so that a study holding extra trials gives no loss more budget.
    """
    trials = finished_trials(study)
    if budget_trials is not None:
        trials = trials[:budget_trials]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        reasons = sorted({t.user_attrs.get("pruned_reason", "pruned") for t in trials})
        raise NoCompleteTrial(f"study {study.study_name!r} has no complete trial among its "
                              f"first {len(trials)} finished ones: {'; '.join(reasons[:3])}")
    best = max(complete, key=lambda t: (t.value, -t.number))
    return dict(best.params), float(best.value), best.number


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, parameters, epochs run, seconds, why it was
    pruned or failed, and the trial it retries (that of a dead worker), if any."""
    rows = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        seconds = (trial.duration.total_seconds() if trial.duration is not None else None)
        rows.append({"number": trial.number, "state": trial.state.name, "value": trial.value,
                     **{f"param_{k}": v for k, v in trial.params.items()},
                     "epochs_run": len(trial.intermediate_values), "seconds": seconds,
                     "pruned_reason": trial.user_attrs.get("pruned_reason", ""),
                     "failed_reason": _failed_reason(trial),
                     "retry_of": trial.system_attrs.get("failed_trial")})
    frame = pd.DataFrame(rows)
    if "retry_of" in frame:
        frame["retry_of"] = frame["retry_of"].astype("Int64")  # a trial number, or empty
    return frame


def _failed_reason(trial: optuna.trial.FrozenTrial) -> str:
    if trial.state != TrialState.FAIL:
        return ""
    for reason in (trial.user_attrs.get("surplus"), trial.user_attrs.get("failed_reason"),
                   trial.system_attrs.get("fail_reason")):
        if reason:
            return str(reason).splitlines()[0]
    return "no heartbeat within the grace period (its worker died or lost the database)"


def quiet_optuna() -> None:
    """Optuna logs a line per trial; the progress display says it better."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
