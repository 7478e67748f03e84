"""The protocol's statistics (lossbench.evaluation.stats) against hand-computed values and scipy."""

import math
from collections import namedtuple

import numpy as np
import pytest
from lossbench.evaluation.stats import (
    MIN_REPLICATES,
    ROPE,
    Comparison,
    compare_to_baseline,
    decide,
    holm,
    mean_interval,
    paired_comparison,
    tied_with,
    tost_p_value,
)
from scipy import stats
from statsmodels.stats.weightstats import ttost_paired

BASE = np.array([0.80, 0.82, 0.78, 0.81, 0.79, 0.83])
# three gains whose raw paired p is ≈ 0.029, 0.025, 0.019 (6 replicates)
GAIN_A = np.array([0.04, 0.00, 0.03, 0.06, 0.01, 0.02])
GAIN_B = np.array([0.05, 0.00, 0.03, 0.05, 0.01, 0.02])
GAIN_C = np.array([0.05, 0.01, 0.03, 0.05, 0.00, 0.03])
CLEAR_GAIN = np.array([0.045, 0.050, 0.055, 0.048, 0.052, 0.050])


# --- mean_interval ----------------------------------------------------------------------------

def test_t_interval_by_hand():
    # [1, 2, 3, 4, 5]: mean 3, s² = 10/4 = 2.5, s/√n = √0.5, t(0.975, df=4) = 2.776445
    interval = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(0.5)
    assert interval.n == 5 and interval.mean == pytest.approx(3.0)
    assert interval.low == pytest.approx(3.0 - half, abs=1e-9)   # 1.036757
    assert interval.high == pytest.approx(3.0 + half, abs=1e-9)  # 4.963243
    assert interval.low == pytest.approx(1.036757, abs=1e-6)
    assert interval.sd == pytest.approx(math.sqrt(2.5))
    assert interval.half_width == pytest.approx(half)
    assert not interval.clipped


def test_interval_clipped_inside_bounds():
    # mean 0.99, s = 0.01, t(0.975, 2) = 4.302653: [0.965159, 1.014841] → high clipped to 1
    values = [0.98, 0.99, 1.00]
    free = mean_interval(values)
    clipped = mean_interval(values, bounds=(0.0, 1.0))
    assert free.high == pytest.approx(0.99 + 4.302652729911275 * 0.01 / math.sqrt(3))
    assert free.high > 1.0 and not free.clipped
    assert clipped.high == 1.0 and clipped.clipped
    assert clipped.low == pytest.approx(free.low) and clipped.low == pytest.approx(0.965159,
                                                                                   abs=1e-6)
    assert clipped.mean == pytest.approx(0.99) and clipped.sd == pytest.approx(free.sd)
    # a difference in [-1, 1] near the lower bound
    low_diff = mean_interval([-0.99, -0.97, -1.0], bounds=(-1.0, 1.0))
    assert low_diff.low == -1.0 and low_diff.high < 0 and low_diff.clipped
    # an interval already inside the bounds is untouched
    inside = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0], bounds=(0.0, 10.0))
    assert not inside.clipped and inside.low == pytest.approx(1.036757, abs=1e-6)


def test_interval_below_two_values_has_nan_bounds():
    one = mean_interval([0.5, math.nan], bounds=(0.0, 1.0))
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.low) and math.isnan(one.high)
    none = mean_interval([])
    assert none.n == 0 and math.isnan(none.mean)


def test_paired_comparison_keeps_its_fields():
    comparison = paired_comparison(BASE + CLEAR_GAIN, BASE)
    assert comparison.difference.mean == pytest.approx(0.05)
    assert comparison.p_value == pytest.approx(stats.ttest_rel(BASE + CLEAR_GAIN, BASE).pvalue)
    assert comparison.beyond_noise
    bounded = paired_comparison([1.0, 0.0, 1.0], [0.0, 0.0, 0.0], bounds=(-1.0, 1.0))
    assert bounded.difference.high == 1.0 and bounded.difference.clipped


# --- holm -------------------------------------------------------------------------------------

def test_holm_worked_example():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one():
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])


def test_holm_nan_passes_through_and_is_not_counted():
    # the family is the 3 finite p's: 0.01·3 = 0.03, 0.02·2 = 0.04, max(0.04, 0.04·1) = 0.04
    adjusted = holm([0.01, math.nan, 0.04, 0.02])
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2, 3]], [0.03, 0.04, 0.04])
    assert np.isnan(holm([math.nan, math.nan])).all()
    assert holm([]).shape == (0,)


# --- decide -----------------------------------------------------------------------------------

TIGHT = 0.001 + 0.002 * np.array([-1.0, 1.0, -1.0, 1.0, -0.5, 0.5, 0.0, 0.0])  # 8 replicates


def test_tost_matches_statsmodels_and_the_formula():
    n, mean, sd = len(TIGHT), TIGHT.mean(), TIGHT.std(ddof=1)
    se = sd / math.sqrt(n)
    by_hand = max(stats.t.sf((mean + ROPE) / se, n - 1), stats.t.cdf((mean - ROPE) / se, n - 1))
    assert tost_p_value(TIGHT) == pytest.approx(by_hand)
    assert tost_p_value(TIGHT) == pytest.approx(ttost_paired(BASE[0] + TIGHT,
                                                             np.full(n, BASE[0]), -ROPE, ROPE)[0])
    # the equivalent statement: the 90 % t-interval lies inside [-rope, rope]
    half90 = stats.t.ppf(0.95, n - 1) * se
    assert -ROPE < mean - half90 and mean + half90 < ROPE


def test_tight_difference_near_zero_is_equivalent():
    p_raw = stats.ttest_1samp(TIGHT, 0).pvalue
    assert p_raw > 0.05   # not significant, and yet "equivalent" from TOST, not from silence
    decision = decide(TIGHT, ROPE, p_adjusted=p_raw)
    assert decision.category == "equivalent"
    assert "ROPE ±0.01" in decision.reason and "TOST" in decision.reason
    assert decision.p_equivalence == pytest.approx(tost_p_value(TIGHT)) and \
        decision.p_equivalence < 0.05
    # the same from the Interval (its sd is kept) and from an Interval-like without sd
    assert decide(mean_interval(TIGHT), ROPE, p_raw).category == "equivalent"
    assert decide(mean_interval(TIGHT), ROPE, p_raw).p_equivalence == \
        pytest.approx(decision.p_equivalence)
    Plain = namedtuple("Plain", "mean low high n")
    interval = mean_interval(TIGHT)
    plain = Plain(interval.mean, interval.low, interval.high, interval.n)
    assert decide(plain, ROPE, p_raw).p_equivalence == pytest.approx(decision.p_equivalence)


def test_significant_but_tiny_difference_is_equivalent():
    tiny = 0.003 + 0.0005 * np.array([-1.0, 1.0, -1.0, 1.0, 0.0, 0.0])
    p_raw = stats.ttest_1samp(tiny, 0).pvalue
    assert p_raw < 0.001
    assert decide(tiny, ROPE, p_raw).category == "equivalent"
    # with a narrower ROPE the same difference is a gain
    assert decide(tiny, 0.001, p_raw).category == "better"


def test_clear_gain_is_better_and_clear_loss_is_worse():
    p_raw = stats.ttest_1samp(CLEAR_GAIN, 0).pvalue
    gain = decide(CLEAR_GAIN, ROPE, p_raw)
    assert gain.category == "better" and "+0.0500" in gain.reason and "Holm" in gain.reason
    loss = decide(-CLEAR_GAIN, ROPE, p_raw)
    assert loss.category == "worse" and "-0.0500" in loss.reason


def test_too_few_replicates_is_undecided():
    decision = decide(CLEAR_GAIN[:4], ROPE, p_adjusted=1e-6)
    assert decision.category == "undecided"
    assert "4 replicates" in decision.reason and "fewer than 5" in decision.reason
    assert MIN_REPLICATES == 5
    assert decide(CLEAR_GAIN[:4], ROPE, 1e-6, min_replicates=4).category == "better"
    # NaN pairs do not count as replicates
    with_gaps = np.array([0.05, math.nan, 0.05, 0.04, math.nan, 0.06])
    assert "4 replicates" in decide(with_gaps, ROPE, 1e-6).reason


def test_zero_variance_is_undecided():
    decision = decide(np.full(6, 0.05), ROPE, p_adjusted=1e-9)
    assert decision.category == "undecided" and "zero variance" in decision.reason
    # equal gains computed in floats (0.83 + 0.05 − 0.83 ≠ 0.05 exactly) are still zero variance
    result = compare_to_baseline({"ce": BASE, "x": BASE + 0.05}, "ce")[0]
    assert result.decision == "undecided" and "zero variance" in result.reason
    assert math.isnan(result.p_value) and math.isnan(result.p_holm)
    assert math.isnan(paired_comparison(BASE + 0.05, BASE).p_value)


def test_neither_difference_nor_equivalence_is_undecided():
    noisy = np.array([0.03, 0.01, -0.02, 0.0, 0.02, -0.01])
    decision = decide(noisy, ROPE, stats.ttest_1samp(noisy, 0).pvalue)
    assert decision.category == "undecided" and "run more replicates" in decision.reason


# --- compare_to_baseline ----------------------------------------------------------------------

def test_compare_alone_a_p_of_003_is_better():
    [result] = compare_to_baseline({"ce": BASE, "a": BASE + GAIN_A}, "ce")
    assert isinstance(result, Comparison) and result.name == "a" and result.n == 6
    assert result.p_value == pytest.approx(stats.ttest_rel(BASE + GAIN_A, BASE).pvalue)
    assert 0.025 < result.p_value < 0.035
    assert result.p_holm == pytest.approx(result.p_value)  # a family of one
    assert result.mean == pytest.approx(GAIN_A.mean())
    interval = mean_interval(GAIN_A)
    assert result.low == pytest.approx(interval.low) and result.high == pytest.approx(interval.high)
    assert result.decision == "better"


def test_compare_applies_holm_across_the_family():
    values = {"ce": BASE, "a": BASE + GAIN_A, "b": BASE + GAIN_B, "c": BASE + GAIN_C}
    results = compare_to_baseline(values, "ce")
    assert [r.name for r in results] == ["a", "b", "c"]
    raw = np.array([r.p_value for r in results])
    assert (raw < 0.05).all()                      # each one alone would be "better"
    p_a, p_b, p_c = raw                            # p_c < p_b < p_a
    assert p_c < p_b < p_a
    holm_by_hand = [max(3 * p_c, 2 * p_b, p_a), max(3 * p_c, 2 * p_b), 3 * p_c]
    np.testing.assert_allclose([r.p_holm for r in results], holm_by_hand)
    assert all(r.p_holm > 0.05 for r in results)
    assert [r.decision for r in results] == ["undecided"] * 3
    assert "Holm-adjusted p = 0.0578" in results[2].reason


def test_compare_clips_the_difference_inside_bounds():
    base = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    cand = np.array([1.0, 1.0, 0.2, 1.0, 0.9])
    free, = compare_to_baseline({"ce": base, "x": cand}, "ce", bounds=None)
    clipped, = compare_to_baseline({"ce": base, "x": cand}, "ce")
    assert free.high > 1.0 and clipped.high == 1.0 and clipped.low == pytest.approx(free.low)


def test_compare_needs_paired_shapes_and_the_baseline():
    with pytest.raises(ValueError, match="same replicates"):
        compare_to_baseline({"ce": BASE, "x": BASE[:5]}, "ce")
    with pytest.raises(KeyError):
        compare_to_baseline({"x": BASE}, "ce")


# --- tied_with --------------------------------------------------------------------------------

def test_tied_with_made_up_example():
    best = BASE + 0.05
    values = {
        "best": best,
        "close": best + np.array([0.01, -0.01, 0.005, -0.005, 0.0, 0.002]),  # p ≈ 0.9
        "far": best - CLEAR_GAIN,                                             # p ≈ 3e-7
        "gappy": np.array([0.5, 0.5, math.nan, 0.5, math.nan, 0.5]),         # 4 pairs only
        "also_far": best - 2 * CLEAR_GAIN,
    }
    assert tied_with(values, "best") == ["close", "gappy"]


def test_tied_with_applies_holm():
    best = BASE + 0.05
    alone = {"best": best, "a": best - GAIN_A}
    assert tied_with(alone, "best") == []          # raw p ≈ 0.029 < 0.05: told apart
    family = {"best": best, "c": best - GAIN_C, "a": best - GAIN_A, "b": best - GAIN_B}
    assert tied_with(family, "best") == ["a", "b", "c"]   # all Holm p > 0.05


def test_tied_with_few_replicates_ties_everything():
    best = (BASE + 0.05)[:4]
    values = {"best": best, "far": best - 0.3 + np.array([0.0, 0.01, -0.01, 0.002]),
              "near": best + np.array([0.0, 0.01, -0.01, 0.002])}
    assert tied_with(values, "best") == ["far", "near"]
    assert tied_with(values, "best", min_replicates=3) == ["near"]
