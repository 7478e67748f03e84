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

import warnings

import optuna
import pandas as pd
from lossbench.config.plan import StudyPlan
from lossbench.errors import UserError
from lossbench.tuning.storage import open_storage
from optuna.trial import TrialState

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
METRIC = "val_macro_f1"
"""The objective's name in the study (optuna-dashboard's axis label): validation macro-F1."""


class NoCompleteTrial(RuntimeError):
    """Every finished trial of the budget was pruned or diverged: there is nothing to retrain."""


def open_study(plan: StudyPlan, storage: str | optuna.storages.BaseStorage,
               study_name: str | None = None) -> optuna.Study:
    """Create the study or join the existing one; refuse one that was made with other settings.

    ``storage`` is an opened storage (``lossbench.tuning.storage.open_storage``) or its URL.
    """
    name = study_name or plan.default_study_name
    if isinstance(storage, str):
        storage = open_storage(storage)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=plan.budget.startup_trials,
                                         n_warmup_steps=plan.budget.prune_warmup_epochs)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                pruner=pruner, sampler=sampler_for(plan, 0), load_if_exists=True)
    stored = study.user_attrs.get("fingerprint")
    if stored is None:
        study.set_user_attr("fingerprint", plan.fingerprint)
        study.set_user_attr("settings", plan.settings())
        # what optuna-dashboard shows beside the study's hashed name
        for key, value in (("suite", plan.suite), ("dataset", plan.dataset.name),
                           ("loss", plan.loss.name), ("replicate", plan.replicate)):
            study.set_user_attr(key, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([METRIC])
    elif stored != plan.fingerprint:
        raise UserError(f"study {name!r} in this storage was made with other settings (fingerprint "
                        f"{stored}, these are {plan.fingerprint}); use another --study name")
    return study


def sampler_for(plan: StudyPlan, finished: int) -> optuna.samplers.TPESampler:
    seed = (plan.budget.tune_seed * 1_000_003 + finished) % 2**31
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=plan.budget.startup_trials)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete and pruned trials, in trial-number order."""
    return sorted(study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)


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
