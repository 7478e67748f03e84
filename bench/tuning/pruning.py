"""Pruning decided in the worker, from a snapshot of the study, without a storage round-trip.

Optuna's ``trial.report`` + ``trial.should_prune`` write each epoch's score and then read every
trial of the study, at every epoch. The median rule only needs the trial's own scores and the
COMPLETE trials' scores at the same epoch, and the trials that were COMPLETE when a trial starts
change only when another worker finishes one meanwhile. ``LocalPruner`` keeps those completed
trials (read once at the trial's start, and again at each block of scores written, see
``lossbench.tuning.trials``) and applies the rule of the study's own pruner, Optuna's
``PercentilePruner.prune`` (``MedianPruner`` is its 50th percentile), step for step:

- no COMPLETE trial, or fewer than ``n_startup_trials`` of them: go on;
- a step below ``n_warmup_steps``, or not the first reported step of its ``interval_steps``
  interval: go on;
- the trial's best score so far is NaN: prune;
- fewer than ``n_min_trials`` COMPLETE trials have a score at this step (or the percentile of
  theirs is NaN): go on;
- otherwise prune when the best score so far is below the ``100 - percentile`` percentile of
  theirs (maximising; above the ``percentile`` one when minimising), ``numpy.nanpercentile``'s
  linear interpolation as Optuna computes it.

``rule_of(pruner)`` reads the pruner's settings; a pruner of another kind (Hyperband, …) gives
None, and the caller then uses Optuna's own per-epoch ``report``/``should_prune``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import optuna


@dataclasses.dataclass(frozen=True)
class PercentileRule:
    """The settings of an Optuna ``PercentilePruner`` (``MedianPruner``: percentile 50)."""

    percentile: float = 50.0
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1
    maximize: bool = True


class _Never:
    """The rule of ``NopPruner``: never prune."""


def rule_of(pruner: optuna.pruners.BasePruner, maximize: bool = True
            ) -> PercentileRule | _Never | None:
    """The local rule equal to ``pruner`` (a ``PercentileRule``, or ``_Never`` for a
    ``NopPruner``); None for a pruner whose decision needs more than the scores (Hyperband,
    successive halving, Wilcoxon, a patience wrapper, a subclass that changes ``prune``)."""
    import optuna

    if type(pruner) is optuna.pruners.NopPruner:
        return _Never()
    if not isinstance(pruner, optuna.pruners.PercentilePruner) or \
            type(pruner).prune is not optuna.pruners.PercentilePruner.prune:
        return None
    # Optuna keeps these settings in private attributes (it has no accessors); a version that
    # renames them falls back to Optuna's own per-epoch pruning.
    try:
        return PercentileRule(percentile=float(pruner._percentile),
                              n_startup_trials=int(pruner._n_startup_trials),
                              n_warmup_steps=int(pruner._n_warmup_steps),
                              interval_steps=int(pruner._interval_steps),
                              n_min_trials=int(pruner._n_min_trials), maximize=maximize)
    except AttributeError:
        return None


def _first_in_interval(step: int, steps: Iterable[int], warmup: int, interval: int) -> bool:
    """Optuna's ``_is_first_in_interval_step``: no earlier reported step lies in ``step``'s
    pruning interval."""
    nearest_lower = (step - warmup) // interval * interval + warmup
    second_last = functools.reduce(lambda last, s: s if s > last and s != step else last,
                                   steps, -1)
    return second_last < nearest_lower


def should_prune(rule: PercentileRule, completed: list[optuna.trial.FrozenTrial],
                 intermediate: Mapping[int, float], step: int | None = None) -> bool:
    """The decision of ``rule`` for a trial whose scores so far are ``intermediate`` (its last
    step ``step``, the highest one when None), given the study's COMPLETE trials ``completed``."""
    return LocalPruner(rule, completed).should_prune(intermediate, step)


class LocalPruner:
    """``should_prune`` against one snapshot of the COMPLETE trials; the percentile at each
    step is computed once."""

    def __init__(self, rule: PercentileRule | _Never,
                 completed: list[optuna.trial.FrozenTrial]) -> None:
        self.rule = rule
        self.refresh(completed)

    def refresh(self, completed: list[optuna.trial.FrozenTrial]) -> None:
        """A newer snapshot of the COMPLETE trials (another worker may have finished some)."""
        self._values = [t.intermediate_values for t in completed]
        self._percentiles: dict[int, float] = {}

    def _percentile_at(self, step: int) -> float:
        if step not in self._percentiles:
            rule = self.rule
            values = [v[step] for v in self._values if step in v]
            if len(values) < rule.n_min_trials:
                self._percentiles[step] = math.nan
            else:
                q = 100 - rule.percentile if rule.maximize else rule.percentile
                with warnings.catch_warnings():  # all NaN: nan, as Optuna gets it
                    warnings.simplefilter("ignore", RuntimeWarning)
                    self._percentiles[step] = float(np.nanpercentile(
                        np.array(values, dtype=float), q))
        return self._percentiles[step]

    def should_prune(self, intermediate: Mapping[int, float], step: int | None = None) -> bool:
        rule = self.rule
        if isinstance(rule, _Never) or not intermediate:
            return False
        if not self._values or len(self._values) < rule.n_startup_trials:
            return False
        step = max(intermediate) if step is None else step
        if step < rule.n_warmup_steps:
            return False
        if not _first_in_interval(step, intermediate.keys(), rule.n_warmup_steps,
                                  rule.interval_steps):
            return False
        scores = [float(v) for v in intermediate.values()]
        scores = [v for v in scores if not math.isnan(v)]
        if not scores:
            return True
        best = max(scores) if rule.maximize else min(scores)
        threshold = self._percentile_at(step)
        if math.isnan(threshold):
            return False
        return best < threshold if rule.maximize else best > threshold
