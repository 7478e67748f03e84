"""``prepare(spec, seed)``: source -> test split -> validation split -> long-tailed train rows.

Order (design.md, "How data flows"):

1. The source loads every row (decoded images come from the cache).
2. The test split is set apart first, with its own fixed seed (``spec.test_seed``), so it is the same
   for every profile and every run seed.
3. What is left is the *pool*. Validation is carved from it: ``balanced`` takes ``val_per_class``
   rows of every class before the profile resamples train from the rest (train counts are then
   exactly the profile's); ``stratified`` resamples the long-tailed pool to the profile's counts
   first and moves a ``val_fraction`` of every class to validation (train + val follow the profile).
   Where whole persons are kept (below), "the profile's counts" are those of the persons kept.
4. Groups (persons) stay on one side of every split.

How train rows are chosen:

* Sources without groups, and grouped sources under ``exp``, ``step`` and ``pareto``: exactly the
  profile's per-class counts of rows, drawn row by row (``splits.resample``). On a grouped source a
  person then keeps only some of its rows: whole persons cannot hit those per-class targets, since
  a person spans classes of different target sizes (the mask data's 5 "wear" rows and 1 of each
  other state).
* Grouped sources (the ``mask`` source, ``gaussian`` with ``structure = "mask"``) under ``natural``
  and ``scarce``: whole persons (``splits.take_groups``). Of the persons left once the test (and,
  when balanced, the validation) split is set apart, every person is kept, under n_max only while
  the classes it has rows in stay at or below n_max; a scarce class keeps int(scarce_fraction ·
  its persons) persons whole, in a seeded random order (rounded down; strata are the sets of
  scarce classes a person has rows in, one per gender for the mask data's >=60 band). A person
  with rows in scarce and other classes keeps its other rows when it is not kept (so the other
  classes keep every person); in the mask data by age no person is mixed. The counts recorded
  (``profile.counts``, ``counts.train``) are the counts of the rows actually taken, and
  ``profile.persons`` the persons per class (None where rows are drawn one by one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lossbench.datasets.cache import resolve_cache_dir
from lossbench.datasets.prepared import PreparedData
from lossbench.datasets.profiles import long_tail_counts
from lossbench.datasets.sources import SourceData, get_source
from lossbench.datasets.spec import DatasetSpec
from lossbench.datasets.splits import resample, split_fraction, take_groups, take_per_class
from lossbench.errors import UserError

_RANKED = ("exp", "step", "pareto")
_STREAM_ORDER, _STREAM_VAL, _STREAM_TRAIN = 1, 2, 3


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _counts(labels: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(labels, minlength=num_classes).astype(int).tolist()


def _check_no_empty(counts: Sequence[int], names: Sequence[str], where: str, hint: str) -> None:
    for name, count in zip(names, counts):
        if count < 1:
            raise UserError(f"class {name!r} has no rows {where}; {hint}")


def _split_test(spec: DatasetSpec, data: SourceData) -> tuple[np.ndarray, np.ndarray, str, int | None]:
    """Return (test rows, pool rows, test mode used, per-class target of a balanced test)."""
    has_own = data.source_test is not None
    mode = spec.test
    if mode == "auto":
        mode = "source" if has_own else ("natural" if data.groups is not None else "balanced")
    everything = np.arange(len(data.y))
    if mode == "source" or (mode == "natural" and has_own):
        if not has_own:
            raise UserError(f"source {spec.source!r} has no test split of its own; "
                            f"use test = 'balanced' or 'natural'")
        return np.flatnonzero(data.source_test), np.flatnonzero(~data.source_test), mode, None
    rng = _rng(spec.test_seed, 0)
    names = data.class_names
    if mode == "natural":
        test, pool = split_fraction(data.y, data.groups, spec.test_fraction, rng, len(names))
        return test, pool, mode, None
    candidates = np.flatnonzero(data.source_test) if has_own else everything
    labels = data.y[candidates]
    groups = None if data.groups is None else data.groups[candidates]
    smallest = min(_counts(labels, len(names)))
    per_class = spec.test_per_class or max(1, int(spec.test_fraction * smallest))
    chosen, consumed = take_per_class(labels, groups, [per_class] * len(names), rng,
                                      class_names=names, what="the balanced test split",
                                      hint="lower test_per_class or use test = 'natural'")
    if has_own:
        return candidates[chosen], np.flatnonzero(~data.source_test), mode, per_class
    return candidates[chosen], np.setdiff1d(everything, candidates[consumed]), mode, per_class


def _scarce_indices(spec: DatasetSpec, data: SourceData) -> list[int]:
    names = data.class_names
    if spec.scarce_attribute is None:
        indices = []
        for item in spec.scarce_classes:
            if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(names):
                indices.append(item)
            elif isinstance(item, str) and item in names:
                indices.append(names.index(item))
            else:
                raise UserError(f"scarce class {item!r} is not a class of {spec.source!r}; "
                                f"classes: {', '.join(names)} (or indices 0..{len(names) - 1})")
        return indices
    attribute, value = spec.scarce_attribute, spec.scarce_value
    if attribute not in data.class_attributes:
        allowed = ", ".join(sorted(data.class_attributes)) or "none for this source and target"
        raise UserError(f"scarce_attribute {attribute!r} is not an attribute of the classes; "
                        f"allowed: {allowed}")
    values = data.attribute_values[attribute]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(values):
        value = values[value]
    if value not in values:
        raise UserError(f"scarce_value {spec.scarce_value!r} is not a value of {attribute!r}; "
                        f"allowed: {', '.join(values)} (or indices 0..{len(values) - 1})")
    return [c for c, v in enumerate(data.class_attributes[attribute]) if v == value]


def _profile_counts(spec: DatasetSpec, data: SourceData, available: list[int],
                    n_max: int | None, seed: int) -> list[int]:
    """Per-class counts (in class order) of the profile, given what each class has available."""
    num_classes = len(available)
    if spec.profile in _RANKED:
        ranked = long_tail_counts(spec.profile, num_classes=num_classes,
                                  n_max=n_max or min(available),
                                  imbalance_ratio=spec.imbalance_ratio,
                                  pareto_shape=spec.pareto_shape)
        order = (_rng(seed, _STREAM_ORDER).permutation(num_classes)
                 if spec.class_order == "shuffled" else np.arange(num_classes))
        counts = [0] * num_classes
        for rank, c in enumerate(order):
            counts[int(c)] = ranked[rank]
        return counts
    scarce = _scarce_indices(spec, data) if spec.profile == "scarce" else []
    return long_tail_counts(spec.profile, num_classes=num_classes, n_max=n_max,
                            available=available, scarce_classes=scarce,
                            scarce_fraction=spec.scarce_fraction)


def _fits(counts: Sequence[int], available: Sequence[int]) -> bool:
    return all(0 < need <= have for need, have in zip(counts, available))


def _check_counts(spec: DatasetSpec, counts: list[int], available: list[int],
                  names: Sequence[str]) -> None:
    for name, need, have in zip(names, counts, available):
        if need < 1:
            raise UserError(f"profile {spec.profile!r} leaves class {name!r} with no train rows; "
                            f"raise n_max, lower imbalance_ratio or raise scarce_fraction")
        if need > have:
            raise UserError(f"profile {spec.profile!r} asks for {need} train rows of class "
                            f"{name!r} but only {have} are left; lower n_max (now "
                            f"{spec.n_max or 'the default'}) or the validation size")


def _whole_groups(spec: DatasetSpec, data: SourceData) -> bool:
    """Whether the profile keeps whole groups (persons): grouped source, natural or scarce."""
    return data.groups is not None and spec.profile in ("natural", "scarce")


def _profile_rows(spec: DatasetSpec, data: SourceData, labels: np.ndarray,
                  groups: np.ndarray | None, available: list[int],
                  seed: int) -> tuple[np.ndarray, list[int], list[int] | None]:
    """Positions (into ``labels``) of the profile's rows, their per-class counts and, where whole
    groups are kept, the groups (persons) per class."""
    names = data.class_names
    counts = _profile_counts(spec, data, available, spec.n_max, seed)  # checks the settings too
    if not _whole_groups(spec, data):
        _check_counts(spec, counts, available, names)
        rows = resample(labels, counts, _rng(seed, _STREAM_TRAIN), class_names=names,
                        hint="lower n_max")
        return rows, counts, None
    scarce = _scarce_indices(spec, data) if spec.profile == "scarce" else []
    rows, persons = take_groups(
        labels, groups, _rng(seed, _STREAM_TRAIN), num_classes=len(names), class_names=names,
        cap=spec.n_max, scarce=scarce, fraction=spec.scarce_fraction if scarce else 1.0,
        what=f"profile {spec.profile!r}",
        hint="leave the class more persons (lower val_per_class, val_fraction or "
             "test_fraction)")
    return rows, _counts(labels[rows], len(names)), persons


def _split_train_val(spec: DatasetSpec, data: SourceData, pool: np.ndarray, seed: int) -> dict:
    """Validation and train rows (global indices) from the pool, with the settings used."""
    names, num_classes = data.class_names, len(data.class_names)
    labels = data.y[pool]
    groups = None if data.groups is None else data.groups[pool]
    available = _counts(labels, num_classes)
    _check_no_empty(available, names, "left for training once the test split is set apart",
                    "lower test_per_class or test_fraction")
    per_class = spec.val_per_class or max(1, int(spec.val_fraction * min(available)))
    mode = spec.val
    if mode == "auto":
        after_val = [have - per_class for have in available]
        room = min(after_val) >= 1
        if room and spec.n_max is not None:
            room = _fits(_profile_counts(spec, data, after_val, spec.n_max, seed), after_val)
        mode = "balanced" if room else "stratified"
    if mode == "balanced":
        val, consumed = take_per_class(labels, groups, [per_class] * num_classes,
                                       _rng(seed, _STREAM_VAL), class_names=names,
                                       what="the balanced validation split",
                                       hint="lower val_per_class or use val = 'stratified'")
        rest = np.setdiff1d(np.arange(len(pool)), consumed)
        left = _counts(labels[rest], num_classes)
        _check_no_empty(left, names, "left for training once the validation split is set apart",
                        "lower val_per_class or use val = 'stratified'")
        rest_groups = None if groups is None else groups[rest]
        picked, counts, persons = _profile_rows(spec, data, labels[rest], rest_groups, left, seed)
        train = rest[picked]
        return {"val": pool[val], "train": pool[train], "mode": mode, "per_class": per_class,
                "profile_counts": counts, "persons": persons}
    long_tailed, counts, persons = _profile_rows(spec, data, labels, groups, available, seed)
    lt_groups = None if groups is None else groups[long_tailed]
    val, train = split_fraction(labels[long_tailed], lt_groups, spec.val_fraction,
                                _rng(seed, _STREAM_VAL), num_classes)
    return {"val": pool[long_tailed[val]], "train": pool[long_tailed[train]], "mode": mode,
            "per_class": None, "profile_counts": counts, "persons": persons}


def _take(data: SourceData, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    index = torch.from_numpy(rows.astype(np.int64))
    groups = None if data.groups is None else torch.from_numpy(data.groups[rows].astype(np.int64))
    return data.x[index], torch.from_numpy(data.y[rows].astype(np.int64)), groups


def _as_spec(spec: DatasetSpec | dict[str, Any]) -> DatasetSpec:
    return DatasetSpec.from_dict(spec) if isinstance(spec, dict) else spec


def plan_splits(spec: DatasetSpec, data: SourceData, seed: int) -> dict[str, Any]:
    """Row indices of every split and a JSON-able description; no image is touched."""
    names, num_classes = data.class_names, len(data.class_names)
    source_counts = _counts(data.y, num_classes)
    _check_no_empty(source_counts, names, f"in source {spec.source!r}",
                    "every class needs at least one image")
    data_seed = spec.seed if spec.seed is not None else int(seed)
    test, pool, test_mode, test_per_class = _split_test(spec, data)
    split = _split_train_val(spec, data, pool, data_seed)
    rows = {"train": split["train"], "val": split["val"], "test": test}
    counts = {"source": source_counts, "pool": _counts(data.y[pool], num_classes),
              **{key: _counts(data.y[value], num_classes) for key, value in rows.items()}}
    description = {
        "name": spec.name, "source": spec.source, "kind": data.kind, "spec": spec.to_dict(),
        "seed": data_seed, "test_seed": spec.test_seed,
        "profile": {"name": spec.profile, "imbalance_ratio": spec.imbalance_ratio,
                    "n_max": max(split["profile_counts"]), "counts": split["profile_counts"],
                    "persons": split["persons"], "class_order": spec.class_order},
        "val": {"mode": split["mode"], "per_class": split["per_class"],
                "fraction": spec.val_fraction},
        "test": {"mode": test_mode, "per_class": test_per_class, "fraction": spec.test_fraction},
        "sizes": {key: int(sum(value)) for key, value in counts.items()},
        "counts": counts, "source_info": data.description,
    }
    return {"rows": rows, "counts": counts, "description": description}


def split_counts(spec: DatasetSpec | dict[str, Any], seed: int = 0,
                 cache_dir: str | os.PathLike | None = None, decode: bool = False) -> dict[str, Any]:
    """Class names and per-class counts of every split, without decoding images unless asked.

    Returns ``{"name", "source", "num_classes", "class_names", "counts": {"source", "pool",
    "train", "val", "test"}, "description"}``; the counts equal those ``prepare`` would give.
    ``decode=True`` decodes every image (checking them all) and fills the cache.
    """
    spec = _as_spec(spec)
    data = get_source(spec.source).load(spec.options, resolve_cache_dir(cache_dir), decode=decode)
    plan = plan_splits(spec, data, seed)
    return {"name": spec.name, "source": spec.source, "num_classes": len(data.class_names),
            "class_names": list(data.class_names), "counts": plan["counts"],
            "description": plan["description"]}


def prepare(spec: DatasetSpec | dict[str, Any], seed: int = 0,
            cache_dir: str | os.PathLike | None = None) -> PreparedData:
    """Load ``spec``'s source and return its splits; the same spec and seed give the same data.

    ``seed`` drives the class order (``shuffled``), the validation rows and the resampled train rows
    unless ``spec.seed`` is set, which then wins. The test split depends on ``spec.test_seed`` only.
    ``cache_dir`` holds decoded images (default: ``$LOSSBENCH_CACHE`` or the user cache directory).
    """
    spec = _as_spec(spec)
    data = get_source(spec.source).load(spec.options, resolve_cache_dir(cache_dir), decode=True)
    plan = plan_splits(spec, data, seed)
    counts, rows = plan["counts"], plan["rows"]
    x_train, y_train, g_train = _take(data, rows["train"])
    x_val, y_val, g_val = _take(data, rows["val"])
    x_test, y_test, g_test = _take(data, rows["test"])
    oracle = None
    if data.oracle is not None:
        priors = np.asarray(counts["test"], dtype=np.float64) / max(1, sum(counts["test"]))
        oracle = data.oracle(x_test, priors)
    return PreparedData(
        name=spec.name, class_names=list(data.class_names), num_classes=len(data.class_names),
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test,
        train_counts=counts["train"], val_counts=counts["val"], test_counts=counts["test"],
        pool_counts=counts["pool"], kind=data.kind,
        groups_train=g_train, groups_val=g_val, groups_test=g_test,
        oracle_test_pred=oracle, description=plan["description"],
    )
