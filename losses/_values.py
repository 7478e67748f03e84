"""Checks of plain values (numbers, choices, reductions), without torch.

The registry (``_registry``, ``_catalog``) declares each loss parameter's allowed values with
these, so a suite's fixed parameters are checked while it is parsed, before torch is imported;
the loss modules and functions check through the same declarations (``LossInfo.check``).
Every check raises ``ValueError`` naming the received value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# How the per-sample losses are combined: "mean" (the default; the weighted mean Σ w_t ℓ / Σ w_t
# where per-class ``weight`` is given), "sum" (Σ w_t ℓ) or "none" (the (N,) vector w_t ℓ).
REDUCTIONS = ("mean", "sum", "none")


def check_range(name: str, value: float, low: float, high: float | None, *,
                low_open: bool = False, high_open: bool = True) -> float:
    """Check ``low <= value < high`` (bounds' openness as given) and return it as float."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    too_low = number <= low if low_open else number < low
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high or math.isnan(number):
        raise ValueError(f"{name} must be in {interval(low, high, low_open, high_open)}; "
                         f"got {value!r}")
    return number


def interval(low: float, high: float | None, low_open: bool = False,
             high_open: bool = True) -> str:
    """``[low, high)`` and the like, as the range checks word it (``inf)`` without ``high``)."""
    left = "(" if low_open else "["
    right = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
    return f"{left}{low}, {right}"


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}"
        )
    return value


def check_reduction(reduction: str, allowed: Sequence[str] = REDUCTIONS, why: str = "") -> str:
    """Check ``reduction`` against ``allowed`` (``why`` explains a loss's shorter list)."""
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(
            f"reduction must be one of {', '.join(repr(a) for a in allowed)}; got "
            f"{reduction!r}{why}"
        )
    return reduction


def check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}")
    return num_classes


@dataclass(frozen=True)
class InRange:
    """A number in ``[low, high)`` (openness as given; ``high`` None: no upper bound)."""

    low: float
    high: float | None = None
    low_open: bool = False
    high_open: bool = True

    def __call__(self, name: str, value: Any) -> float:
        return check_range(name, value, self.low, self.high, low_open=self.low_open,
                           high_open=self.high_open)

    def describe(self) -> str:
        return interval(self.low, self.high, self.low_open, self.high_open)


@dataclass(frozen=True)
class OneOf:
    """One of a few strings."""

    choices: tuple[str, ...]

    def __call__(self, name: str, value: Any) -> str:
        return check_choice(name, value, self.choices)

    def describe(self) -> str:
        return "{" + ", ".join(self.choices) + "}"


def at_least(low: float) -> InRange:
    return InRange(low)


def above(low: float) -> InRange:
    return InRange(low, low_open=True)


def between(low: float, high: float, *, low_open: bool = False,
            high_open: bool = True) -> InRange:
    return InRange(low, high, low_open, high_open)


def one_of(*choices: str) -> OneOf:
    return OneOf(tuple(choices))
