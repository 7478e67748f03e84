"""Intervals and tests over seeds: t-intervals of a mean and paired comparisons with a baseline."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided 95 % t-interval over ``n`` values (NaN bounds when n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_interval(values) -> Interval:
    """Mean and 95 % t-interval (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n) of the finite ``values``."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    n = len(data)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class PairedComparison:
    """``candidate − baseline`` paired by seed: the mean difference, its interval, a t-test."""

    difference: Interval
    p_value: float
    """Two-sided paired t-test (scipy.stats.ttest_rel); NaN below two pairs or with no spread."""

    @property
    def beyond_noise(self) -> bool:
        """True when the interval of the difference excludes 0."""
        diff = self.difference
        return diff.n >= 2 and (diff.low > 0 or diff.high < 0)


def paired_comparison(candidate, baseline) -> PairedComparison:
    """Compare two sequences of per-seed values (same seeds, same order)."""
    a, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same seeds: got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    difference = mean_interval(a - b)
    p_value = math.nan
    if len(a) >= 2 and np.std(a - b) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p_value = float(stats.ttest_rel(a, b).pvalue)
    return PairedComparison(difference, p_value)
