"""Seeded row selection: exact per-class picks, stratified fractions, group-safe.

Rows may come in groups (the mask data's persons). Every function here keeps a group whole: a group
is *consumed* by one split, and rows of a consumed group that the split does not need are dropped,
never handed to another split. Without groups every row is its own group and the picks are exact.
All functions return sorted positions into the ``labels`` array they are given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from lossbench.errors import UserError


def _need_message(what: str, name: str, need: int, have: int, hint: str) -> str:
    return (f"{what} needs {need} rows of class {name!r} but only {have} are available; {hint}")


def _group_rows(groups: np.ndarray) -> list[np.ndarray]:
    """Row positions of each group, groups in order of first id (sorted ids)."""
    order = np.argsort(groups, kind="stable")
    _, starts = np.unique(groups[order], return_index=True)
    return np.split(order, starts[1:])


def take_per_class(labels: np.ndarray, groups: np.ndarray | None, targets: Sequence[int],
                   rng: np.random.Generator, *, class_names: Sequence[str], what: str,
                   hint: str) -> tuple[np.ndarray, np.ndarray]:
    """Pick exactly ``targets[c]`` rows of every class c.

    Returns ``(chosen, consumed)``: the picked rows, and every row of the groups they came from
    (equal to ``chosen`` without groups). Groups are taken in a seeded random order while one of
    their classes still needs rows. Raises ``UserError`` naming the class that runs short.
    """
    if groups is None:
        chosen = []
        for c, target in enumerate(targets):
            rows = np.flatnonzero(labels == c)
            if len(rows) < target:
                raise UserError(_need_message(what, class_names[c], target, len(rows), hint))
            chosen.append(rng.permutation(rows)[:target])
        picked = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
        return picked, picked
    need = np.asarray(targets, dtype=np.int64).copy()
    units = _group_rows(groups)
    chosen, consumed = [], []
    for index in rng.permutation(len(units)):
        if not need.any():
            break
        rows = units[index]
        if not need[np.unique(labels[rows])].any():
            continue
        consumed.append(rows)
        for c in np.unique(labels[rows]):
            of_class = rng.permutation(rows[labels[rows] == c])[: need[c]]
            chosen.append(of_class)
            need[c] -= len(of_class)
    if need.any():
        c = int(np.flatnonzero(need)[0])
        have = int(targets[c] - need[c])
        raise UserError(_need_message(what, class_names[c], int(targets[c]), have, hint))
    return np.sort(np.concatenate(chosen)), np.sort(np.concatenate(consumed))


def fraction_targets(counts: Sequence[int], fraction: float) -> list[int]:
    """round(fraction · n) rows of each class, at least 1 and at most n − 1 when n >= 2, else 0."""
    targets = []
    for count in counts:
        target = round(fraction * count) if count >= 2 else 0
        targets.append(min(max(target, 1), count - 1) if count >= 2 else 0)
    return targets


def split_fraction(labels: np.ndarray, groups: np.ndarray | None, fraction: float,
                   rng: np.random.Generator, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into ``(part, rest)`` with about ``fraction`` of every class in ``part``.

    Without groups the part holds exactly ``fraction_targets`` rows of each class. With groups, whole
    groups move to the part (in a seeded order) while one of their classes is still short of its
    target and the move leaves the rest at least one row of each class it had; nothing is dropped.
    """
    counts = np.bincount(labels, minlength=num_classes)
    targets = fraction_targets(counts.tolist(), fraction)
    if groups is None:
        part = [rng.permutation(np.flatnonzero(labels == c))[:t] for c, t in enumerate(targets)]
        chosen = np.sort(np.concatenate(part)) if part else np.empty(0, np.int64)
    else:
        need = np.asarray(targets, dtype=np.int64)
        left = counts.copy()
        taken = []
        units = _group_rows(groups)
        for rows in (units[i] for i in rng.permutation(len(units))):
            unit = np.bincount(labels[rows], minlength=num_classes)
            present = unit > 0
            if not (need[present] > 0).any() or (left[present] - unit[present] < 1).any():
                continue
            taken.append(rows)
            need -= unit
            left -= unit
        chosen = np.sort(np.concatenate(taken)) if taken else np.empty(0, np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), chosen)
    return chosen, rest


def resample(labels: np.ndarray, counts: Sequence[int], rng: np.random.Generator, *,
             class_names: Sequence[str], hint: str) -> np.ndarray:
    """Exactly ``counts[c]`` rows of every class c, drawn without replacement (seeded)."""
    picked, _ = take_per_class(labels, None, counts, rng, class_names=class_names,
                               what="the train profile", hint=hint)
    return picked
