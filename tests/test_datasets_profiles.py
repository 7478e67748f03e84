"""Long-tail profiles: known answers from the CIFAR-LT papers and the rules of each profile."""

import itertools

import pytest
from lossbench.datasets import long_tail_counts
from lossbench.errors import UserError


def test_exp_cifar10_rho100_matches_cifar10_lt():
    counts = long_tail_counts("exp", num_classes=10, n_max=5000, imbalance_ratio=100)
    assert counts == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert sum(counts) == 12406


def test_exp_cifar10_rho10_sums_to_20431():
    assert sum(long_tail_counts("exp", num_classes=10, n_max=5000, imbalance_ratio=10)) == 20431


def test_exp_cifar100_rho100_sums_to_10847():
    counts = long_tail_counts("exp", num_classes=100, n_max=500, imbalance_ratio=100)
    assert sum(counts) == 10847 and counts[0] == 500 and counts[-1] == 5


def test_step_rho100_sums_to_25250():
    counts = long_tail_counts("step", num_classes=10, n_max=5000, imbalance_ratio=100)
    assert counts == [5000] * 5 + [50] * 5 and sum(counts) == 25250


def test_pareto_hits_both_ends_and_decreases():
    counts = long_tail_counts("pareto", num_classes=50, n_max=1280, imbalance_ratio=256,
                              pareto_shape=6)
    assert counts[0] == 1280 and counts[-1] == 5
    assert all(a >= b for a, b in itertools.pairwise(counts))


def test_pareto_tends_to_exp_for_large_shape():
    exp = long_tail_counts("exp", num_classes=10, n_max=5000, imbalance_ratio=100)
    pareto = long_tail_counts("pareto", num_classes=10, n_max=5000, imbalance_ratio=100,
                              pareto_shape=1e6)
    assert all(abs(a - b) <= 1 for a, b in zip(exp, pareto))


def test_pareto_small_shape_is_below_exp_in_the_middle():
    exp = long_tail_counts("exp", num_classes=10, n_max=5000, imbalance_ratio=100)
    pareto = long_tail_counts("pareto", num_classes=10, n_max=5000, imbalance_ratio=100,
                              pareto_shape=1)
    assert all(p <= e for p, e in zip(pareto[1:-1], exp[1:-1]))


def test_ratio_one_is_balanced():
    assert long_tail_counts("exp", num_classes=4, n_max=7, imbalance_ratio=1) == [7] * 4


def test_natural_keeps_counts_and_n_max_caps():
    assert long_tail_counts("natural", num_classes=3, available=[5, 9, 2]) == [5, 9, 2]
    assert long_tail_counts("natural", num_classes=3, n_max=4, available=[5, 9, 2]) == [4, 4, 2]


def test_scarce_cuts_chosen_classes_only():
    counts = long_tail_counts("scarce", num_classes=3, available=[100, 90, 80],
                              scarce_classes=[2], scarce_fraction=0.25)
    assert counts == [100, 90, 20]


@pytest.mark.parametrize("ratio", [0.5, 0, -3, float("nan")])
def test_ratio_below_one_is_an_error_naming_the_value(ratio):
    with pytest.raises(UserError, match="imbalance_ratio must be a number >= 1"):
        long_tail_counts("exp", num_classes=10, n_max=5000, imbalance_ratio=ratio)


def test_unknown_profile_suggests_the_close_name():
    with pytest.raises(UserError, match=r"unknown profile 'expo'.*Did you mean 'exp'.*Allowed"):
        long_tail_counts("expo", num_classes=10, n_max=5000)


def test_exp_without_n_max_is_an_error():
    with pytest.raises(UserError, match="needs n_max"):
        long_tail_counts("exp", num_classes=10)
