"""Seeded row selection: exact per-class picks, stratified fractions, group-safe.

Rows may come in groups (the mask data's persons). Every function here keeps a group whole: a group
is *consumed* by one split, and rows of a consumed group that the split does not need are dropped,
never handed to another split. Without groups every row is its own group and the picks are exact.
All functions return sorted positions into the ``labels`` array they are given.
"""

from __future__ import annotations

import math
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
    """Exactly ``counts[c]`` rows of every class c, drawn without replacement (seeded).

    Rows are drawn one by one, ignoring groups: ``prepare`` uses it for sources without groups and,
    on grouped sources, for the ``exp``, ``step`` and ``pareto`` profiles, whose per-class targets
    whole persons cannot hit (a person's rows span classes of different target sizes).
    """
    picked, _ = take_per_class(labels, None, counts, rng, class_names=class_names,
                               what="the train profile", hint=hint)
    return picked


#: Guards int(fraction · n) against 49.999999 meaning 50, as in ``profiles``.
_TOLERANCE = 1e-9


def _whole_groups_error(what: str, name: str, detail: str, hint: str) -> UserError:
    return UserError(f"{what} leaves class {name!r} with no train rows: {detail}; {hint}")


def take_groups(labels: np.ndarray, groups: np.ndarray, rng: np.random.Generator, *,
                num_classes: int, class_names: Sequence[str], cap: int | None = None,
                scarce: Sequence[int] = (), fraction: float = 1.0, what: str,
                hint: str) -> tuple[np.ndarray, list[int]]:
    """The ``natural`` / ``scarce`` profile on grouped rows: whole groups (persons), not rows.

    One seeded order of the groups drives both steps:

    1. **Cap** (``cap`` = n_max, optional): walking the order, a group is taken when adding all its
       rows keeps every class it has rows in at or below ``cap``, else it is skipped whole. A class
       never goes over the cap and can end under it by less than one group's rows in it (4 of the
       mask data's 5 "wear" rows). Without a cap every group is taken.
    2. **Scarce cut**: the taken groups with rows in a ``scarce`` class form strata by the set of
       scarce classes they have rows in (in the mask data by age: one stratum per gender of the
       >=60 band, since a person's 7 rows sit in one gender × age cell). Each stratum keeps its first
       int(``fraction`` · its groups) groups in the order (rounded down, 1e-9 tolerance), so a scarce
       class keeps the same number of groups, and rows, for every seed. A kept group keeps every
       row. A group that is not kept loses its rows in the scarce classes; its rows in other classes
       (a group that spans scarce and other classes) stay, so the other classes keep every taken
       group and their counts are those of step 1.

    Returns ``(chosen, persons)``: sorted positions of the rows taken and, per class, the number of
    groups with rows of it among them. Raises one ``UserError`` naming the first class left with no
    rows and what to change: the fraction (``hint`` says what else leaves more groups) or the cap.
    """
    units = _group_rows(groups)
    order = rng.permutation(len(units))
    unit_counts = [np.bincount(labels[rows], minlength=num_classes) for rows in units]
    counts = np.zeros(num_classes, dtype=np.int64)
    taken = []
    for index in order:
        unit = unit_counts[index]
        if cap is not None and (counts + unit > cap)[unit > 0].any():
            continue
        counts += unit
        taken.append(int(index))
    is_scarce = np.zeros(num_classes, dtype=bool)
    is_scarce[list(scarce)] = True
    strata: dict[tuple[int, ...], list[int]] = {}
    for index in taken:
        key = tuple(np.flatnonzero((unit_counts[index] > 0) & is_scarce).tolist())
        if key:
            strata.setdefault(key, []).append(index)
    dropped: set[int] = set()
    for members in strata.values():
        keep = math.floor(fraction * len(members) + _TOLERANCE)
        dropped.update(members[keep:])
    chosen, persons = [], np.zeros(num_classes, dtype=np.int64)
    for index in taken:
        rows = units[index]
        if index in dropped:
            rows = rows[~is_scarce[labels[rows]]]
        chosen.append(rows)
        persons += np.bincount(np.unique(labels[rows]), minlength=num_classes)
    for c in range(num_classes):
        if persons[c] > 0:
            continue
        having = [len(m) for key, m in strata.items() if c in key]
        if having:
            largest = max(having)
            detail = (f"scarce_fraction {fraction:g} keeps none of its {largest} persons "
                      f"(int({fraction:g} x {largest}) = 0; persons are kept whole)")
            least = math.ceil(1e4 / largest) / 1e4  # rounded up: int(least x largest) >= 1
            raise _whole_groups_error(what, class_names[c], detail,
                                      f"raise scarce_fraction to at least {least:g} "
                                      f"(1/{largest}), or {hint}")
        most = max(int(unit[c]) for unit in unit_counts)
        if most == 0 or cap is None:
            raise _whole_groups_error(what, class_names[c], "it has no rows left", hint)
        detail = (f"no person fits under n_max {cap} (persons are kept whole and one has up to "
                  f"{most} rows of it)")
        raise _whole_groups_error(what, class_names[c], detail, f"raise n_max to at least {most}")
    picked = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
    return picked, persons.astype(int).tolist()
