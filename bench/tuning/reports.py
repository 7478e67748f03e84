"""A trial's per-epoch scores without a storage round-trip per epoch.

Optuna's ``trial.report`` writes each score at once and ``trial.should_prune`` then reads every
trial of the study: two storage round-trips an epoch, which on SQLite cost more than a small
model's epoch. ``EpochReports`` keeps the scores in memory instead and

- decides pruning here, by the study pruner's own rule (``lossbench.tuning.pruning``), against
  the COMPLETE trials read at the trial's start;
- writes the scores in blocks, in one storage call each (``storage.write_trial_records``): the
  first epoch's at once (the trial shows its progress, and a trial that another worker declared
  dead meanwhile stops there, as with ``trial.report``), then at the end of an epoch whenever
  ``WRITE_SECONDS`` have passed since the last block (an epoch that long is written as it ends,
  as before), and what is left at the end, together with the trial's last user attributes,
  before Optuna is told the trial's state. The COMPLETE trials are read again at each of those
  timed blocks (other workers may complete trials meanwhile).

What is stored is what Optuna's calls store: one intermediate value per epoch (a repeated step
keeps its first value), a pruned trial's values up to the epoch that pruned it. A trial that
another worker declared dead meanwhile raises ``UpdateFinishedTrialError`` at the next block
written, as ``trial.report`` would at the next epoch. A pruner whose rule needs more than the scores (Hyperband
and the like) gets Optuna's own ``report``/``should_prune`` every epoch.
"""

from __future__ import annotations

import contextlib
import time

import optuna
from lossbench.tuning import pruning, storage
from optuna.trial import TrialState

WRITE_SECONDS = 5.0
"""Seconds after which the scores reported since the last block are written at an epoch's end."""


class EpochReports:
    """One trial's scores: kept here, the pruning decided here, written in blocks.

    ``trials``: the study's trials as read at the trial's start (including this one: a retry may
    inherit scores). ``finish`` writes what is left with the trial's last user attributes.
    """

    def __init__(self, study: optuna.Study, trial: optuna.Trial,
                 trials: list[optuna.trial.FrozenTrial],
                 write_seconds: float = WRITE_SECONDS) -> None:
        self.study, self.trial, self.write_seconds = study, trial, write_seconds
        self.trial_id = storage.trial_id(trial)
        own = next((t for t in trials if t.number == trial.number), None)
        self.values: dict[int, float] = dict(own.intermediate_values) if own else {}
        self._pending: dict[int, float] = {}
        self._written_at: float | None = None  # the first score goes out at once
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        rule = pruning.rule_of(study.pruner, maximize)
        self.pruner = None if rule is None else pruning.LocalPruner(
            rule, [t for t in trials if t.state == TrialState.COMPLETE])

    def report(self, epoch: int, score: float) -> bool:
        """Record the score of ``epoch``; True when the trial should be pruned now."""
        if self.pruner is None:
            self.trial.report(score, epoch)
            return self.trial.should_prune()
        score = float(score)
        if epoch not in self.values:  # Optuna keeps the first report of a step, as here
            self.values[epoch] = self._pending[epoch] = score
        if self._written_at is None:
            self._write()
        elif time.monotonic() - self._written_at >= self.write_seconds:
            self._write()
            self.pruner.refresh(self.study.get_trials(deepcopy=False,
                                                      states=(TrialState.COMPLETE,)))
        return self.pruner.should_prune(self.values)

    def finish(self, **user_attrs: object) -> None:
        """Write the scores not yet stored and ``user_attrs``, in one storage call."""
        self._write(user_attrs)

    def finish_quietly(self) -> None:
        """``finish`` while another error is on its way (the training failed): best effort."""
        if not self._pending:
            return
        with contextlib.suppress(Exception):  # the training's error is the one to report
            self._write()

    def _write(self, user_attrs: dict | None = None) -> None:
        storage.write_trial_records(self.study, self.trial_id, self._pending, user_attrs)
        self._pending = {}
        self._written_at = time.monotonic()
