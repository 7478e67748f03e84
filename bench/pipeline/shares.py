"""How ``lossbench run --workers N`` deals a suite out to its N processes: by units, a unit being
one (dataset, replicate, loss): its study and its final runs, run by one process from the first
trial to the last final run, so that a unit's result does not depend on N."""

from __future__ import annotations

from dataclasses import dataclass

from lossbench.config.suite import Suite
from lossbench.errors import UserError


@dataclass(frozen=True)
class Share:
    """Which units of a suite one process runs, a unit being one (dataset, replicate, loss):
    its study and its final runs. Units are numbered in the suite's order (datasets, then
    replicates, then losses and trained baselines); process ``index`` of ``count`` runs the units
    whose number is ``index`` modulo ``count``. Every study is tuned by one process from first
    trial to last, so a unit's result does not depend on how many processes shared the suite:
    ``--workers 2`` gives what ``--workers 1`` gives, in less time."""

    index: int = 0
    count: int = 1

    def takes(self, unit: int) -> bool:
        return unit % self.count == self.index

    @classmethod
    def parse(cls, text: str) -> Share:
        """``K/N`` (the hidden ``--share`` option of a helper)."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            index, count = -1, 0
        if not 0 <= index < count:
            raise UserError(f"--share must be K/N with 0 <= K < N, got {text!r}")
        return cls(index, count)


WHOLE = Share()
"""The whole suite, one process."""


def units(suite: Suite, share: Share) -> dict[tuple[str, int], list[int]]:
    """For each (dataset, replicate) of the suite, the indexes into ``suite.trained`` of the
    units ``share`` runs (only pairs with at least one)."""
    taken: dict[tuple[str, int], list[int]] = {}
    number = 0
    for entry in suite.datasets:
        for replicate in range(suite.budget_for(entry).replicates):
            for index in range(len(suite.trained)):
                if share.takes(number):
                    taken.setdefault((entry.name, replicate), []).append(index)
                number += 1
    return taken


def total_steps(suite: Suite, tune_only: bool, share: Share = WHOLE) -> int:
    """Trainings (trials and final runs) of the units ``share`` runs: the progress line's total."""
    budgets = {entry.name: suite.budget_for(entry) for entry in suite.datasets}
    return sum(len(indexes) * (budgets[name].trials + (0 if tune_only else budgets[name].seeds))
               for (name, _), indexes in units(suite, share).items())
