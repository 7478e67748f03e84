"""The search space of a trial: the shared learning rate and weight decay, then the loss's own."""

from __future__ import annotations

from typing import Any

import optuna
from lossbench.config.losses import tuned_space
from lossbench.config.plan import StudyPlan


def sample_params(trial: optuna.Trial, plan: StudyPlan) -> dict[str, Any]:
    """Ask ``trial`` for lr, weight decay and the loss's parameters the suite does not fix."""
    params = {"lr": trial.suggest_float("lr", *plan.optim.lr, log=True),
              "weight_decay": trial.suggest_float("weight_decay", *plan.optim.weight_decay,
                                                  log=True)}
    for name, spec in tuned_space(plan.loss.registry_name, plan.loss.fixed).items():
        params[name] = suggest(trial, name, spec)
    return params


def suggest(trial: Any, name: str, spec: Any) -> Any:
    """Ask an Optuna trial for parameter ``name`` following a registry search-space spec."""
    kind = spec.kind
    if kind == "float":
        return trial.suggest_float(name, spec.low, spec.high, log=bool(spec.log))
    if kind == "int":
        return trial.suggest_int(name, int(spec.low), int(spec.high), log=bool(spec.log))
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec.choices))
    raise ValueError(f"search space of {name!r} has kind {kind!r}; expected float, int or "
                     "categorical")
