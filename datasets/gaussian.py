"""``gaussian``: a synthetic Gaussian mixture whose Bayes-optimal classifier is known in closed form.

Class c draws x ~ N(μ_c, I) in ``dimension`` dimensions. With ``dimension >= num_classes`` the means
are the corners of a regular simplex, μ_c = (separation/√2)·e_c, so every pair of classes is exactly
``separation`` standard deviations apart; with fewer dimensions the means are random (fixed by
``generator_seed``) and scaled so the closest pair is ``separation`` apart.

Per-class counts of the pool: ``per_class`` for every class, or ``counts`` — a list, or the preset
``"mask"`` (the competition's 18 class counts, context.md, with its class names). The source also
generates its own balanced test split (``test_rows_per_class`` rows a class).

``structure = "mask"`` (the default is ``"simplex"``, all of the above) draws persons instead: the
mask data's 2,700 persons × 7 rows with its 18 class counts, class means composed of mask, gender
and age effects (``mask_separation`` 7, ``gender_separation`` 2.5, ``age_separation`` 2), a person
offset N(0, ``person_spread``²·I) (0.5) shared by a person's rows, persons as groups and the
``mask`` source's class attributes; ``dimension`` >= 5 (default 5). See ``gaussian_mask``.

Oracle: with equal isotropic covariance the Bayes rule is linear,
    ŷ(x) = argmax_c  μ_c·x − ½‖μ_c‖² + log π_c,
for class priors π. ``prepare`` uses the priors of the *test* split: the oracle is the Bayes rule of
the distribution it is scored on, i.e. the error-optimal classifier there. On the default balanced
test the priors are equal, so it is the maximum-likelihood rule, which also minimises the balanced
error (one minus the mean recall) — the natural yardstick for macro-F1, where every class weighs the
same. It is not exactly the macro-F1-optimal rule (no closed form exists), so a loss can land a hair
above it by chance; read it as "the best possible", not as a strict upper bound. Using the *train*
priors instead would be the Bayes rule for the long-tailed train distribution and would under-predict
the rare classes on a balanced test.

Sizes are bounded before anything is drawn (``check_sizes``, also run when a ``DatasetSpec`` is
made, so a suite is refused before a run writes anything): at most ``MAX_CLASSES`` classes,
``MAX_DIMENSION`` dimensions and ``MAX_ROWS_PER_CLASS`` rows a class, and the memory the draw needs
(``draw_bytes``, about 32 bytes a value: the float64 means, noise and sum, and the float32 copy) at
most half of this machine's memory (``machine_memory``: physical memory, or the cgroup's limit where
lower), so an absurd size is one message instead of a numpy traceback or the OOM killer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lossbench.datasets import gaussian_mask, mask_labels
from lossbench.datasets.sources import Option, Source, SourceData, register_source
from lossbench.datasets.spec import register_size_check
from lossbench.errors import UserError, shown

COUNT_PRESETS: dict[str, tuple[int, ...]] = {"mask": mask_labels.MASK_CLASS_COUNTS}
MAX_CLASSES = 10_000
"""The most classes (``num_classes``, the length of ``counts``): ten times ImageNet's."""
MAX_DIMENSION = 100_000
"""The most feature dimensions."""
MAX_ROWS_PER_CLASS = 10_000_000
"""The most rows of one class (``per_class``, each of ``counts``, ``test_rows_per_class``)."""
MEMORY_SHARE = 0.5
"""The share of this machine's memory one draw may need (training needs the rest)."""
_OPTION = "option {!r} of source 'gaussian'"


def _pool_counts(options: dict[str, Any]) -> tuple[list[int], list[str] | None]:
    counts, num_classes = options["counts"], options["num_classes"]
    names = None
    if isinstance(counts, str):
        if counts not in COUNT_PRESETS:
            raise UserError(f"unknown counts preset {counts!r}; allowed: "
                            f"{', '.join(sorted(COUNT_PRESETS))}, or a list of whole numbers")
        names = mask_labels.class_names() if counts == "mask" else None
        counts = list(COUNT_PRESETS[counts])
    if counts is None:
        classes = 10 if num_classes is None else num_classes
        counts = [options["per_class"]] * classes
    if num_classes is not None and num_classes != len(counts):
        raise UserError(f"num_classes is {num_classes} but counts lists {len(counts)} classes")
    if len(counts) < 2 or min(counts) < 1:
        raise UserError(f"gaussian needs at least 2 classes with >= 1 row each; got counts "
                        f"{shown(counts)}")
    return counts, names


def machine_memory() -> int | None:
    """Bytes of memory this process may use: the physical memory, or the cgroup's limit (a
    container's) where that is lower; None when neither can be read."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit() and int(text) > 0:
            total = int(text) if total is None else min(total, int(text))
    return total


def draw_bytes(rows: int, test_rows: int, classes: int, dimension: int) -> int:
    """About the most memory drawing ``rows`` rows (``test_rows`` of them the test split) of
    ``classes`` classes in ``dimension`` dimensions takes: per value the float64 means of the rows,
    their noise and their sum and the float32 result (32 bytes), per row its labels and split
    flags, the random means' pairwise gaps where dimension < classes, and the oracle's scores."""
    gaps = 16 * classes * classes * dimension if dimension < classes else 0
    return (32 * rows * dimension + 64 * rows + 8 * classes * dimension + gaps
            + 24 * test_rows * classes)


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError  # unreachable


def _at_most(name: str, value: Any, low: int, high: int) -> None:
    """A UserError when ``value`` (a whole number, or None: unset) is above ``high``; lower
    values are left to the loader's own messages."""
    if value is not None and value > high:
        raise UserError(f"{_OPTION.format(name)} must be a whole number from {low} to {high}; "
                        f"got {shown(value)}")


def check_sizes(options: dict[str, Any]) -> None:
    """Refuse sizes that cannot be drawn (``MAX_CLASSES``, ``MAX_DIMENSION``,
    ``MAX_ROWS_PER_CLASS``, and the memory of ``draw_bytes`` against ``machine_memory``) before
    anything is allocated; each message names the option, its value and what is allowed."""
    counts, classes = options["counts"], options["num_classes"]
    _at_most("num_classes", classes, 2, MAX_CLASSES)
    _at_most("dimension", options["dimension"], 1, MAX_DIMENSION)
    _at_most("test_rows_per_class", options["test_rows_per_class"], 1, MAX_ROWS_PER_CLASS)
    test_rows_per_class = max(options["test_rows_per_class"], 0)
    if options["structure"] == "mask":  # the mask data's persons: 2,700 x 7 rows at most
        classes = len(mask_labels.MASK_CLASS_COUNTS)
        pool = sum(mask_labels.MASK_CLASS_COUNTS)
        dimension = options["dimension"] or gaussian_mask.MIN_DIMENSION
        sizes = {"test_rows_per_class": test_rows_per_class, "dimension": dimension}
    elif isinstance(counts, list):
        if len(counts) > MAX_CLASSES:
            raise UserError(f"{_OPTION.format('counts')} lists {len(counts)} classes; at most "
                            f"{MAX_CLASSES} are allowed")
        largest = max(counts, default=0)
        if largest > MAX_ROWS_PER_CLASS:
            raise UserError(f"{_OPTION.format('counts')} must hold whole numbers from 1 to "
                            f"{MAX_ROWS_PER_CLASS}; got {shown(largest)}")
        classes, pool = len(counts), sum(max(count, 0) for count in counts)
        dimension = options["dimension"] or classes
        sizes = {"counts": f"{classes} classes, {pool} rows",
                 "test_rows_per_class": test_rows_per_class, "dimension": dimension}
    elif isinstance(counts, str) and counts in COUNT_PRESETS:
        classes, pool = len(COUNT_PRESETS[counts]), sum(COUNT_PRESETS[counts])
        dimension = options["dimension"] or classes
        sizes = {"test_rows_per_class": test_rows_per_class, "dimension": dimension}
    else:  # no counts (or an unknown preset, which the loader names)
        _at_most("per_class", options["per_class"], 1, MAX_ROWS_PER_CLASS)
        classes = 10 if classes is None else classes
        pool = max(classes, 0) * max(options["per_class"], 0)
        dimension = options["dimension"] or classes
        sizes = {"num_classes": classes, "per_class": options["per_class"],
                 "test_rows_per_class": test_rows_per_class, "dimension": dimension}
    classes, dimension = max(classes, 1), max(dimension, 1)
    test_rows = classes * test_rows_per_class
    need = draw_bytes(pool + test_rows, test_rows, classes, dimension)
    memory = machine_memory()
    if memory is not None and need > MEMORY_SHARE * memory:
        settings = ", ".join(f"{name} {value}" for name, value in sizes.items())
        raise UserError(
            f"source 'gaussian' would need about {_size(need)} of memory to draw "
            f"{pool + test_rows} rows x {dimension} dimensions ({settings}); at most "
            f"{_size(MEMORY_SHARE * memory)} is allowed (half of this machine's "
            f"{_size(memory)}): lower {', '.join(sizes)}")


register_size_check("gaussian", check_sizes)


def class_means(num_classes: int, dimension: int, separation: float, seed: int) -> np.ndarray:
    """(C, D) float64 means: a regular simplex if D >= C, else random with closest pair at ``separation``."""
    if dimension >= num_classes:
        return np.eye(num_classes, dimension) * (separation / math.sqrt(2.0))
    means = np.random.default_rng([seed, 1]).standard_normal((num_classes, dimension))
    gaps = np.linalg.norm(means[:, None, :] - means[None, :, :], axis=-1)
    closest = gaps[~np.eye(num_classes, dtype=bool)].min()
    return means * (separation / closest)


def bayes_predict(x: torch.Tensor, means: np.ndarray, priors: np.ndarray,
                  variance: float = 1.0) -> torch.Tensor:
    """argmax_c (μ_c·x − ½‖μ_c‖²)/σ² + log π_c for covariance σ²I, σ² = ``variance`` (int64
    predictions, shape (N,)); the default unit covariance is the simplex structure's."""
    mu = torch.as_tensor(means, dtype=torch.float64)
    with np.errstate(divide="ignore"):
        log_priors = torch.as_tensor(np.log(np.asarray(priors, dtype=np.float64)))
    scores = x.to(torch.float64) @ mu.T - 0.5 * (mu * mu).sum(1)
    if variance != 1.0:
        scores = scores / variance
    scores = scores + log_priors
    return scores.argmax(dim=1)


def load_gaussian(options: dict[str, Any], cache_dir: Path,
                  decode: bool = True) -> SourceData:
    """Draw the pool (``counts`` rows a class) and a balanced test split, deterministically."""
    check_sizes(options)
    if options["structure"] == "mask":
        return _load_mask_structure(options)
    mask_only = {**gaussian_mask.DEFAULTS, "persons_fraction": gaussian_mask.PERSONS_FRACTION}
    for name, default in mask_only.items():
        if options[name] != default:
            raise UserError(f"option {name!r} of source 'gaussian' applies to structure = 'mask' "
                            f"only (got {options[name]!r}); add structure = 'mask' or drop it")
    counts, names = _pool_counts(options)
    num_classes = len(counts)
    dimension = options["dimension"] or num_classes
    separation = options["separation"]
    if dimension < 1 or not separation > 0:
        raise UserError(f"gaussian needs dimension >= 1 and separation > 0; "
                        f"got {dimension} and {separation}")
    if options["test_rows_per_class"] < 1:
        raise UserError(f"test_rows_per_class must be >= 1; got {options['test_rows_per_class']}")
    means = class_means(num_classes, dimension, separation, options["generator_seed"])
    test_counts = [options["test_rows_per_class"]] * num_classes
    labels = np.concatenate([np.repeat(np.arange(num_classes), counts),
                             np.repeat(np.arange(num_classes), test_counts)]).astype(np.int64)
    rng = np.random.default_rng([options["generator_seed"], 2])
    x = means[labels] + rng.standard_normal((len(labels), dimension))
    is_test = np.arange(len(labels)) >= sum(counts)
    return SourceData(
        x=torch.from_numpy(x.astype(np.float32)),
        y=labels,
        class_names=names or [f"c{c}" for c in range(num_classes)],
        kind="features",
        source_test=is_test,
        oracle=lambda rows, priors: bayes_predict(rows, means, priors),
        description={"dimension": dimension, "separation": separation,
                     "means": "simplex" if dimension >= num_classes else "random",
                     "pool_counts": counts, "test_rows_per_class": options["test_rows_per_class"],
                     "oracle": "Bayes rule with the test split's class priors"},
    )


def _load_mask_structure(options: dict[str, Any]) -> SourceData:
    """The mask-shaped persons of ``gaussian_mask``, as a ``SourceData``."""
    drawn = gaussian_mask.load_mask_structure(options)
    means, variance = drawn["means"], drawn["variance"]
    return SourceData(
        x=torch.from_numpy(drawn["x"].astype(np.float32)), y=drawn["y"],
        class_names=mask_labels.class_names(), kind="features", source_test=drawn["source_test"],
        groups=drawn["groups"], class_attributes=mask_labels.class_attributes(),
        attribute_values={"mask": list(mask_labels.MASK_NAMES),
                          "gender": list(mask_labels.GENDER_NAMES),
                          "age": mask_labels.age_names()},
        oracle=lambda rows, priors: bayes_predict(rows, means, priors, variance),
        description=drawn["description"],
    )


register_source(Source(
    name="gaussian",
    summary="synthetic Gaussian mixture with a closed-form Bayes-optimal oracle (counts a setting)",
    options=(
        Option("structure", "str", "simplex", "simplex (classes on a simplex) or mask (the mask "
               "data's persons and 18 classes, means built from attribute effects)",
               ("simplex", "mask")),
        Option("num_classes", "optional_int", None,
               f"number of classes, 2 to {MAX_CLASSES} (default 10, or len(counts))"),
        Option("dimension", "optional_int", None,
               f"feature dimension, 1 to {MAX_DIMENSION} (default: num_classes; structure mask: "
               "5, the least it allows)"),
        Option("separation", "float", 3.0, "distance between class means, in standard deviations"),
        Option("counts", "counts", None, "per-class pool counts: a list or the preset 'mask'"),
        Option("per_class", "int", 500, f"pool rows per class when counts is not given, 1 to "
               f"{MAX_ROWS_PER_CLASS}"),
        Option("test_rows_per_class", "int", 500, "rows per class of its own balanced test split, "
               f"1 to {MAX_ROWS_PER_CLASS}"),
        Option("generator_seed", "int", 0, "seed of the drawn data (the data, not the split)"),
        Option("mask_separation", "float", gaussian_mask.DEFAULTS["mask_separation"],
               "structure mask: distance between the 3 mask states' effects (easy)"),
        Option("gender_separation", "float", gaussian_mask.DEFAULTS["gender_separation"],
               "structure mask: distance between the 2 genders' effects (moderate)"),
        Option("age_separation", "float", gaussian_mask.DEFAULTS["age_separation"],
               "structure mask: distance between neighbouring age bands, in order (hard)"),
        Option("person_spread", "float", gaussian_mask.DEFAULTS["person_spread"],
               "structure mask: std of the offset shared by one person's rows"),
        Option("persons_fraction", "float", gaussian_mask.PERSONS_FRACTION,
               "structure mask: fraction of the competition's persons in every gender x age "
               "cell, in (0, 1] (rounded, at least one a cell)"),
    ),
    load=load_gaussian,
))
