"""Statistics of the evaluation protocol over replicates (design.md, "Evaluation protocol").

The replicate is the unit: every function takes numpy-like arrays of per-replicate values, and the
values of a candidate and of its baseline are paired by position (same replicates, same order).
Non-finite values are dropped (pairwise for paired functions).

- :func:`mean_interval`: mean and 95 % t-interval, optionally clipped inside a metric's bounds;
- :func:`paired_comparison`: ``candidate − baseline`` with its interval and a paired t-test;
- :func:`holm`: Holm–Bonferroni adjusted p-values (statsmodels);
- :func:`tost_p_value`: two one-sided tests of equivalence within ±ROPE (statsmodels);
- :func:`decide`: better / equivalent / worse / undecided with a region of practical equivalence;
- :func:`compare_to_baseline`: every entry against the baseline, Holm across the family;
- :func:`tied_with`: the entries that cannot be told from the best one (paired, Holm).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

CONFIDENCE = 0.95
ROPE = 0.01
"""Region of practical equivalence for macro-F1 (and other metrics in [0, 1]): ±0.01, one point."""
MIN_REPLICATES = 5
"""Below this many finite pairs a comparison is "undecided" (design.md, protocol item 4)."""
ALPHA = 0.05

BETTER, EQUIVALENT, WORSE, UNDECIDED = "better", "equivalent", "worse", "undecided"
CATEGORIES = (BETTER, EQUIVALENT, WORSE, UNDECIDED)

_SPREAD_TOLERANCE = 1e-12
"""Standard deviations at or below this (times max(1, |mean|)) count as zero variance, so that
float rounding of equal differences (0.95 − 0.90 vs 0.85 − 0.80) does not produce p ≈ 0."""


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided 95 % t-interval over ``n`` values (NaN bounds when n < 2).

    ``sd`` is the sample standard deviation (ddof = 1) of the values, kept so that tests can be
    computed from the interval even after ``low``/``high`` were clipped (``clipped`` says so).
    """

    mean: float
    low: float
    high: float
    n: int
    sd: float = math.nan
    clipped: bool = False

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _finite(values) -> np.ndarray:
    data = np.asarray(values, dtype=float).ravel()
    return data[np.isfinite(data)]


def _no_spread(sd: float, mean: float) -> bool:
    return not sd > _SPREAD_TOLERANCE * max(1.0, abs(mean))


def mean_interval(values, bounds: tuple[float, float] | None = None) -> Interval:
    """Mean and 95 % t-interval of the finite ``values``.

    Formula: x̄ ± t₀.₉₇₅,ₙ₋₁ · s/√n, with s the sample standard deviation (ddof = 1) — Student's
    t-interval (e.g. Wasserman, *All of Statistics*, 2004, §10.7; ``scipy.stats.t``).

    ``bounds=(lo, hi)``: for a bounded metric (macro-F1 in [0, 1]; a difference of two such
    metrics in [-1, 1]) the interval is **clipped** inside the bounds, ``low = max(low, lo)`` and
    ``high = min(high, hi)``, and ``clipped`` is True when a bound moved. Clipping keeps the
    interval's coverage (the true mean lies within the bounds) but it is no longer symmetric.

    Below 2 finite values the bounds are NaN (``n`` = 0 also gives a NaN mean).
    """
    data = _finite(values)
    n = len(data)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    sd = float(data.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n))
    low, high = mean - half, mean + half
    clipped = False
    if bounds is not None:
        lo, hi = float(bounds[0]), float(bounds[1])
        if lo > hi:
            raise ValueError(f"bounds must be (low, high) with low <= high, got {bounds}")
        clipped = low < lo or high > hi
        low, high = max(low, lo), min(high, hi)
    return Interval(mean, low, high, n, sd, clipped)


@dataclass(frozen=True)
class PairedComparison:
    """``candidate − baseline`` paired by replicate: the mean difference, its interval, a t-test."""

    difference: Interval
    p_value: float
    """Two-sided paired t-test (scipy.stats.ttest_rel); NaN below two pairs or with no spread."""

    @property
    def beyond_noise(self) -> bool:
        """True when the interval of the difference excludes 0."""
        diff = self.difference
        return diff.n >= 2 and (diff.low > 0 or diff.high < 0)


def _pairs(candidate, baseline) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same replicates: got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p (t = d̄ / (s_d/√n), df = n − 1); NaN below 2 pairs or no spread."""
    if len(a) < 2:
        return math.nan
    d = a - b
    if _no_spread(float(d.std(ddof=1)), float(d.mean())):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(a, b).pvalue)


def paired_comparison(candidate, baseline, bounds: tuple[float, float] | None = None,
                      ) -> PairedComparison:
    """Compare two sequences of per-replicate values (same replicates, same order).

    The difference d = candidate − baseline over the finite pairs gets :func:`mean_interval`
    (clipped inside ``bounds`` when given, e.g. (-1, 1) for a difference of two scores in [0, 1])
    and a two-sided paired t-test, t = d̄ / (s_d/√n) with n − 1 degrees of freedom
    (``scipy.stats.ttest_rel``). p is NaN below two pairs or when the differences have no spread.
    """
    a, b = _pairs(candidate, baseline)
    return PairedComparison(mean_interval(a - b, bounds), _paired_p(a, b))


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input order.

    With the m finite p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted value of p₍ᵢ₎ is
    min(1, maxⱼ≤ᵢ (m − j + 1) · p₍ⱼ₎) (Holm 1979, "A simple sequentially rejective multiple test
    procedure", Scand. J. Statist. 6:65–70), computed by
    ``statsmodels.stats.multitest.multipletests(method="holm")``. It controls the family-wise
    error rate at alpha: reject where adjusted p < alpha.

    NaN entries (no test possible) pass through as NaN and do not count in the family size m.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = multipletests(p[finite], method="holm")[1]
    return out


def tost_p_value(differences, rope: float = ROPE) -> float:
    """p-value of two one-sided t-tests (TOST) that the mean paired difference lies in (−rope, rope).

    H₀: μ_d ≤ −rope or μ_d ≥ rope; p = max(p₁, p₂) with t₁ = (d̄ + rope)/(s_d/√n),
    t₂ = (d̄ − rope)/(s_d/√n), df = n − 1 (Schuirmann 1987, J. Pharmacokin. Biopharm. 15:657–680),
    computed by ``statsmodels.stats.weightstats.ttost_paired``. p < alpha exactly when the
    (1 − 2·alpha) t-interval of d̄ (90 % for alpha = 0.05) lies inside [−rope, +rope].
    NaN below two finite differences or with no spread.
    """
    d = _finite(differences)
    if len(d) < 2 or _no_spread(float(d.std(ddof=1)), float(d.mean())):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttost_paired(d, np.zeros_like(d), -rope, rope)[0])


def _tost_from_summary(mean: float, sd: float, n: int, rope: float) -> float:
    """:func:`tost_p_value` from d̄, s_d and n (the same formula, for an interval's summary)."""
    se = sd / math.sqrt(n)
    lower = stats.t.sf((mean + rope) / se, n - 1)   # H₀: μ ≤ −rope
    upper = stats.t.cdf((mean - rope) / se, n - 1)  # H₀: μ ≥ +rope
    return float(max(lower, upper))


@dataclass(frozen=True)
class Decision:
    """A comparison's category ("better", "equivalent", "worse", "undecided") and why, in a line."""

    category: str
    reason: str
    p_equivalence: float = math.nan
    """The TOST p-value within ±rope (NaN where it could not be computed)."""

    def __str__(self) -> str:
        return f"{self.category}: {self.reason}"


def _is_interval(diff) -> bool:
    return not isinstance(diff, np.ndarray) and all(
        hasattr(diff, name) for name in ("mean", "low", "high", "n"))


def _summary(diff) -> tuple[float, float, int]:
    """(mean, sd, n) of per-replicate differences or of an Interval-like (mean, low, high, n[, sd])."""
    if _is_interval(diff):
        mean, n = float(diff.mean), int(diff.n)
        sd = float(getattr(diff, "sd", math.nan))
        if not math.isfinite(sd) and n >= 2:
            if getattr(diff, "clipped", False):
                raise ValueError("a clipped interval without sd: pass the differences instead")
            # an Interval-like without sd: recover s from the (unclipped) 95 % half-width
            half = (float(diff.high) - float(diff.low)) / 2
            sd = half * math.sqrt(n) / float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
        return mean, sd, n
    d = _finite(diff)
    n = len(d)
    return (float(d.mean()) if n else math.nan), (float(d.std(ddof=1)) if n >= 2 else math.nan), n


def decide(diff, rope: float = ROPE, p_adjusted: float = math.nan, alpha: float = ALPHA,
           min_replicates: int = MIN_REPLICATES) -> Decision:
    """Better / equivalent / worse / undecided for a paired difference, with a region of practical
    equivalence (ROPE) of ±``rope`` (Benavoli et al. 2017, "Time for a change", JMLR 18(77);
    Kruschke 2018, "Rejecting or accepting parameter values in Bayesian estimation", AMPPS 1(2)).

    ``diff``: the per-replicate differences candidate − baseline, or an :class:`Interval`-like
    (mean, low, high, n and, best, sd; without sd, s is recovered from an unclipped 95 %
    half-width). ``p_adjusted``: the Holm-adjusted two-sided paired t-test p of the comparison.

    Rules, in order:

    1. fewer than ``min_replicates`` finite pairs → "undecided" (the reason gives the count);
    2. zero variance of the differences → "undecided" (no t-test or interval is possible);
    3. "equivalent" when the two one-sided tests (TOST, H₀: |μ_d| ≥ rope; t = (d̄ ± rope)/(s_d/√n),
       df = n − 1, ``statsmodels.stats.weightstats.ttost_paired``) reject at ``alpha``, i.e. the
       (1 − 2·alpha) t-interval of d̄ lies inside [−rope, +rope]: the difference is too small to
       matter, even where it is significant;
    4. "better" when ``p_adjusted`` < alpha and d̄ > 0; "worse" when ``p_adjusted`` < alpha and
       d̄ < 0;
    5. else "undecided" (neither a difference nor an equivalence shown: run more replicates).

    Not significant is not equal: only rule 3 gives "equivalent".
    """
    mean, sd, n = _summary(diff)
    if n < min_replicates:
        return Decision(UNDECIDED, f"only {n} replicate{'s' if n != 1 else ''} "
                                   f"(fewer than {min_replicates}): run more replicates")
    if not math.isfinite(sd) or _no_spread(sd, mean):
        return Decision(UNDECIDED, f"zero variance of the differences over {n} replicates "
                                   f"(all {_signed(mean)}): no test is possible")
    p_eq = _tost_from_summary(mean, sd, n, rope) if _is_interval(diff) \
        else tost_p_value(diff, rope)
    if p_eq < alpha:
        return Decision(EQUIVALENT, f"mean difference {_signed(mean)} within the ROPE ±{rope:g} "
                                    f"(TOST p = {p_eq:.3g} < {alpha:g}, {n} replicates)", p_eq)
    if math.isfinite(p_adjusted) and p_adjusted < alpha and mean != 0:
        category = BETTER if mean > 0 else WORSE
        return Decision(category, f"mean difference {_signed(mean)}, Holm-adjusted p = "
                                  f"{p_adjusted:.3g} < {alpha:g} ({n} replicates)", p_eq)
    p_text = f"{p_adjusted:.3g}" if math.isfinite(p_adjusted) else "n/a"
    return Decision(UNDECIDED, f"mean difference {_signed(mean)}: not significant (Holm-adjusted p = "
                               f"{p_text}) and not within the ROPE ±{rope:g} (TOST p = "
                               f"{p_eq:.3g}); run more replicates", p_eq)


@dataclass(frozen=True)
class Comparison:
    """One entry against the baseline: paired difference, raw and Holm p, and the decision."""

    name: str
    n: int
    mean: float
    low: float
    high: float
    p_value: float
    p_holm: float
    decision: str
    reason: str


def compare_to_baseline(values: Mapping[str, object], baseline: str, rope: float = ROPE,
                        alpha: float = ALPHA, min_replicates: int = MIN_REPLICATES,
                        bounds: tuple[float, float] | None = (-1.0, 1.0)) -> list[Comparison]:
    """Every entry of ``values`` (name → per-replicate values) other than ``baseline`` against it.

    For each entry, in the mapping's order: the paired difference entry − baseline over the
    finite pairs, its mean and 95 % t-interval clipped inside ``bounds`` (see
    :func:`mean_interval`), the raw two-sided paired t-test p (:func:`paired_comparison`), the
    Holm-adjusted p (:func:`holm`) across the family of all entries compared with the baseline
    (entries whose p is NaN are not counted), and the :func:`decide` category and reason from the
    differences and the adjusted p.
    """
    if baseline not in values:
        raise KeyError(f"baseline {baseline!r} is not among {sorted(values)}")
    names = [name for name in values if name != baseline]
    pairs = [_pairs(values[name], values[baseline]) for name in names]
    raw = [_paired_p(a, b) for a, b in pairs]
    adjusted = holm(raw)
    out = []
    for name, (a, b), p, p_adj in zip(names, pairs, raw, adjusted):
        d = a - b
        interval = mean_interval(d, bounds)
        decision = decide(d, rope, float(p_adj), alpha, min_replicates)
        out.append(Comparison(name, interval.n, interval.mean, interval.low, interval.high,
                              p, float(p_adj), decision.category, decision.reason))
    return out


def tied_with(values: Mapping[str, object], best: str, alpha: float = ALPHA,
              min_replicates: int = MIN_REPLICATES) -> list[str]:
    """The entries that cannot be told from ``best`` (sorted; ``best`` itself not included).

    Each other entry is compared with ``best`` by the two-sided paired t-test over their finite
    pairs; the p-values are Holm-adjusted across that family (:func:`holm`). An entry is tied
    when its adjusted p ≥ ``alpha``, when it has fewer than ``min_replicates`` pairs (nothing can
    be told apart) or when no test is possible (p NaN: fewer than two pairs or zero variance of
    the differences, which the protocol counts as undecided).
    """
    if best not in values:
        raise KeyError(f"best {best!r} is not among {sorted(values)}")
    names = [name for name in values if name != best]
    pairs = [_pairs(values[name], values[best]) for name in names]
    adjusted = holm([_paired_p(a, b) for a, b in pairs])
    return sorted(name for name, (a, _), p in zip(names, pairs, adjusted)
                  if len(a) < min_replicates or not p < alpha)


def _signed(value: float) -> str:
    """``value`` with its sign at 4 decimals; a value that rounds to zero reads +0.0000, never
    -0.0000."""
    text = f"{value:+.4f}"
    return "+0.0000" if text == "-0.0000" else text
