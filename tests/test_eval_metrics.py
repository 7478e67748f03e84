"""Test-set metrics and statistics against known answers."""

import math

import numpy as np
import pytest
from lossbench.evaluation.metrics import (
    STANDARD_RULE,
    calibration_bins,
    class_groups,
    classification_report,
    expected_calibration_error,
)
from lossbench.evaluation.stats import mean_interval, paired_comparison
from scipy import stats


def one_hot(predictions, num_classes, confidence=1.0):
    probs = np.full((len(predictions), num_classes), (1 - confidence) / (num_classes - 1))
    probs[np.arange(len(predictions)), predictions] = confidence
    return probs


def test_report_lists_every_class_even_one_never_predicted():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 0, 1, 1])  # class 2 never predicted
    report = classification_report(y_true, one_hot(y_pred, 3), [150, 50, 5])
    per_class = report["per_class"]
    assert per_class["precision"] == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert per_class["recall"] == pytest.approx([1.0, 0.5, 0.0])
    assert per_class["f1"] == pytest.approx([0.8, 0.4, 0.0])
    summary = report["summary"]
    assert summary["macro_f1"] == pytest.approx(0.4)
    assert summary["worst_class_f1"] == 0.0
    assert summary["accuracy"] == pytest.approx(0.5)
    assert summary["balanced_accuracy"] == pytest.approx(0.5)
    assert (summary["many_f1"], summary["medium_f1"], summary["few_f1"]) == pytest.approx(
        (0.8, 0.4, 0.0))
    assert report["confusion"] == [[2, 0, 0], [1, 1, 0], [0, 2, 0]]


def test_groups_use_the_standard_thresholds_only():
    groups, rule = class_groups([500, 101, 100, 20, 19, 1])
    assert groups == ["many", "many", "medium", "medium", "few", "few"] and rule == STANDARD_RULE
    groups, rule = class_groups([4000, 83, 2000, 400, 109, 90])  # no class below 20
    assert rule == STANDARD_RULE  # no fallback: "few" is empty, its score n/a
    assert groups == ["many", "medium", "many", "many", "many", "medium"]


def test_an_empty_group_scores_nan():
    probs = np.eye(3)[[0, 1, 2, 0]]
    report = classification_report(np.array([0, 1, 2, 0]), probs, [500, 300, 200])
    assert math.isnan(report["summary"]["few_f1"]) and math.isnan(report["summary"]["medium_f1"])
    assert report["summary"]["many_f1"] == 1.0


def test_ece_of_known_bins():
    # Four predictions at confidence 0.9 (3 right) and two at 0.6 (1 right):
    # ECE = 4/6 * |0.75 - 0.9| + 2/6 * |0.5 - 0.6| = 0.1 + 0.0333…
    probs = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 2)
    y_true = np.array([0, 0, 0, 1, 0, 1])
    bins = calibration_bins(probs, y_true)
    assert sum(bins["count"]) == 6 and len(bins["count"]) == 15
    assert expected_calibration_error(bins) == pytest.approx(0.1 + 0.1 / 3)


def test_perfectly_confident_and_right_is_calibrated():
    probs = one_hot(np.array([0, 1, 2, 1]), 3)
    assert expected_calibration_error(calibration_bins(probs, np.array([0, 1, 2, 1]))) == 0.0


def test_mean_interval_is_the_t_interval():
    values = [0.80, 0.82, 0.85, 0.79]
    interval = mean_interval(values)
    low, high = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    assert (interval.low, interval.high) == pytest.approx((low, high))
    single = mean_interval([0.8])
    assert single.mean == 0.8 and math.isnan(single.low) and single.n == 1


def test_paired_comparison_matches_scipy_and_reads_noise():
    candidate, baseline = [0.85, 0.86, 0.88], [0.80, 0.83, 0.82]
    comparison = paired_comparison(candidate, baseline)
    assert comparison.p_value == pytest.approx(stats.ttest_rel(candidate, baseline).pvalue)
    assert comparison.difference.mean == pytest.approx(0.0466666, abs=1e-6)
    assert comparison.beyond_noise
    noisy = paired_comparison([0.85, 0.80, 0.86], [0.82, 0.83, 0.82])
    assert not noisy.beyond_noise
    assert math.isnan(paired_comparison([0.9], [0.8]).p_value)
