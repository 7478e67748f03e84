"""Long-tail profiles: how many training images each class gets.

``long_tail_counts`` is a pure function of its settings (no randomness), so a profile's counts can be
read, tested and compared without loading any data. Counts are listed in *rank order*: index 0 is the
largest class. Which real class gets which rank is decided by ``class_order`` in the dataset spec.

Profiles (ρ = ``imbalance_ratio`` ≥ 1, C = ``num_classes``, i = 0 … C−1):

``exp``
    n_i = int(n_max · (1/ρ)^(i/(C−1))), the CIFAR-10-LT / CIFAR-100-LT formula (Cao et al. 2019).
``step``
    the first ⌊C/2⌋ classes at n_max, the others at int(n_max/ρ) (Cui et al. 2019's "step").
``pareto``
    n_i = int(n_max · (1 + (i/(C−1)) · (ρ^(1/(a+1)) − 1))^−(a+1)): the Pareto density x^−(a+1) with
    shape a (``pareto_shape``, default 6 as in ImageNet-LT) read at evenly spaced points chosen so
    that the first class has n_max and the last n_max/ρ. Small shapes fall fast at the head and flatten
    in the tail (many similar few-shot classes); as the shape grows the profile tends to ``exp``.
``natural``
    the available counts as they are (capped at n_max when one is given).
``scarce``
    the available counts (capped at n_max when given), except the chosen classes, cut to
    int(available · ``scarce_fraction``) (of the capped count when n_max is given).

These are counts of rows. On a source whose rows come in groups (persons: the ``mask`` source,
``gaussian`` with ``structure = "mask"``), ``prepare`` applies ``natural`` and ``scarce`` to whole
persons instead (``splits.take_groups``): every person left for training is kept (under n_max only
while its classes stay at or below n_max), and a scarce class keeps int(``scarce_fraction`` · its
persons) persons with all their rows, so its row count is that of the persons kept, not
int(available · fraction). ``exp``, ``step`` and ``pareto`` stay row counts on grouped sources too:
a person spans classes of different target sizes, so whole persons cannot hit per-class targets.

A small tolerance (1e-9) guards the int() against values like 49.999999 that mean 50.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lossbench.errors import UserError

PROFILES: dict[str, str] = {
    "exp": "exponential decay from n_max to n_max/ρ (CIFAR-LT)",
    "step": "half the classes at n_max, half at n_max/ρ",
    "pareto": "Pareto-shaped decay from n_max to n_max/ρ (ImageNet-LT style, shape a setting)",
    "natural": "the source's own class counts, left as they are",
    "scarce": "chosen classes (or an attribute group, e.g. age 60+) cut to a fraction",
}

_TOLERANCE = 1e-9


def _floor(value: float) -> int:
    return math.floor(value + _TOLERANCE)


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is known, else raise a ``UserError`` naming the close matches."""
    from lossbench.datasets._names import unknown_name_message

    if profile not in PROFILES:
        raise UserError(unknown_name_message("profile", profile, PROFILES))
    return profile


def _check_ratio(imbalance_ratio: float) -> float:
    ratio = float(imbalance_ratio)
    if not math.isfinite(ratio) or ratio < 1.0:
        raise UserError(
            f"imbalance_ratio must be a number >= 1 (largest class / smallest class); "
            f"got {imbalance_ratio!r}"
        )
    return ratio


def _check_n_max(profile: str, n_max: int | None) -> int:
    if n_max is None:
        raise UserError(f"profile {profile!r} needs n_max (the size of the largest class)")
    if isinstance(n_max, bool) or int(n_max) != n_max or n_max < 1:
        raise UserError(f"n_max must be a whole number >= 1; got {n_max!r}")
    return int(n_max)


def _decay(num_classes: int, n_max: int, shape_of_rank) -> list[int]:
    if num_classes == 1:
        return [n_max]
    return [_floor(n_max * shape_of_rank(i / (num_classes - 1))) for i in range(num_classes)]


def _available(profile: str, available: Sequence[int] | None, num_classes: int) -> list[int]:
    if available is None:
        raise UserError(f"profile {profile!r} needs the available per-class counts")
    counts = [int(count) for count in available]
    if len(counts) != num_classes:
        raise UserError(
            f"available counts list {len(counts)} classes but num_classes is {num_classes}"
        )
    return counts


def long_tail_counts(
    profile: str,
    *,
    num_classes: int,
    n_max: int | None = None,
    imbalance_ratio: float = 100.0,
    pareto_shape: float = 6.0,
    available: Sequence[int] | None = None,
    scarce_classes: Sequence[int] = (),
    scarce_fraction: float = 0.1,
) -> list[int]:
    """Per-class training counts of a long-tail profile (see the module docstring for formulas).

    Args:
        profile: one of ``exp``, ``step``, ``pareto``, ``natural``, ``scarce``.
        num_classes: C, the number of classes (≥ 1).
        n_max: size of the largest class; required by ``exp``, ``step`` and ``pareto``, an optional
            cap for ``natural`` and ``scarce``.
        imbalance_ratio: ρ = largest / smallest class, ≥ 1 (``exp``, ``step``, ``pareto``).
        pareto_shape: shape a > 0 of the ``pareto`` profile.
        available: per-class counts the source has (``natural`` and ``scarce``), in class order.
        scarce_classes: class indices that ``scarce`` cuts.
        scarce_fraction: fraction in (0, 1] of the available count that a scarce class keeps.

    Returns:
        A list of C non-negative ints. exp/step/pareto are in rank order (index 0 largest);
        natural/scarce follow the order of ``available``. Zero counts are returned as they are:
        the caller decides whether an empty class is an error (``prepare`` says which class).

    Example:
        >>> sum(long_tail_counts("exp", num_classes=10, n_max=5000, imbalance_ratio=100))
        12406
    """
    check_profile(profile)
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise UserError(f"num_classes must be a whole number >= 1; got {num_classes!r}")
    num_classes = int(num_classes)
    if profile in ("exp", "step", "pareto"):
        n_max = _check_n_max(profile, n_max)
        ratio = _check_ratio(imbalance_ratio)
        if profile == "exp":
            return _decay(num_classes, n_max, lambda r: (1.0 / ratio) ** r)
        if profile == "step":
            many = max(1, num_classes // 2)
            return [n_max] * many + [_floor(n_max / ratio)] * (num_classes - many)
        shape = float(pareto_shape)
        if not math.isfinite(shape) or shape <= 0:
            raise UserError(f"pareto_shape must be a number > 0; got {pareto_shape!r}")
        end = ratio ** (1.0 / (shape + 1.0))
        return _decay(num_classes, n_max, lambda r: (1.0 + r * (end - 1.0)) ** -(shape + 1.0))
    counts = _available(profile, available, num_classes)
    if n_max is not None:
        cap = _check_n_max(profile, n_max)
        counts = [min(count, cap) for count in counts]
    if profile == "natural":
        return counts
    fraction = float(scarce_fraction)
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"scarce_fraction must be in (0, 1]; got {scarce_fraction!r}")
    if not list(scarce_classes):
        raise UserError("profile 'scarce' needs scarce_classes or scarce_attribute + scarce_value")
    for index in scarce_classes:
        if not 0 <= index < num_classes:
            raise UserError(f"scarce class index {index} is outside 0..{num_classes - 1}")
        counts[index] = _floor(counts[index] * fraction)
    return counts
