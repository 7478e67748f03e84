"""Known answers: special cases that reduce to cross-entropy, and the worked numbers of context.md."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers.loss_cases import CLASS_COUNTS, random_batch
from lossbench.losses import (
    balanced_softmax_loss,
    build_loss,
    class_balanced_loss,
    cross_entropy_loss,
    focal_loss,
    label_smoothing_loss,
    ldam_loss,
    logit_adjusted_loss,
    poly_loss,
    soft_f1_loss,
    weighted_ce_loss,
)


@pytest.fixture
def batch():
    return random_batch(n=50, dtype=torch.float64, seed=11)


def test_worked_cross_entropy_example():
    probs = torch.tensor([[0.2, 0.7, 0.1]], dtype=torch.float64)
    value = cross_entropy_loss(probs.log(), torch.tensor([1]))
    assert value.item() == pytest.approx(0.357, abs=5e-4)
    assert value.item() == pytest.approx(-math.log(0.7), rel=1e-12)


@pytest.mark.parametrize("pt, factor", [(0.98, 0.0004), (0.2, 0.64)])
def test_focal_factor_at_known_probabilities(pt, factor):
    # two classes with p_t as given; focal / CE is the factor (1 - p_t)^2
    logits = torch.tensor([[math.log(pt), math.log(1 - pt)]], dtype=torch.float64)
    target = torch.tensor([0])
    ratio = focal_loss(logits, target, gamma=2.0) / cross_entropy_loss(logits, target)
    assert ratio.item() == pytest.approx(factor, rel=1e-9)


@pytest.mark.parametrize("pt, value", [(0.98, 8.1e-6), (0.2, 1.03)])
def test_focal_values_use_natural_logs(pt, value):
    logits = torch.tensor([[math.log(pt), math.log(1 - pt)]], dtype=torch.float64)
    assert focal_loss(logits, torch.tensor([0])).item() == pytest.approx(value, rel=0.01)


def test_focal_gamma_zero_is_cross_entropy(batch):
    logits, target = batch
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))


def test_focal_alpha_is_a_per_class_vector(batch):
    logits, target = batch
    alpha = torch.linspace(0.5, 3.0, logits.shape[1], dtype=torch.float64)
    expected = (alpha[target] * F.cross_entropy(logits, target, reduction="none")).mean()
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0, alpha=alpha), expected)


def test_logit_adjustment_tau_zero_is_cross_entropy(batch):
    logits, target = batch
    torch.testing.assert_close(logit_adjusted_loss(logits, target, CLASS_COUNTS, tau=0.0),
                               F.cross_entropy(logits, target))


def test_balanced_softmax_is_logit_adjustment_with_tau_one(batch):
    logits, target = batch
    torch.testing.assert_close(balanced_softmax_loss(logits, target, CLASS_COUNTS),
                               logit_adjusted_loss(logits, target, CLASS_COUNTS, tau=1.0))
    prior = torch.tensor(CLASS_COUNTS, dtype=torch.float64) / sum(CLASS_COUNTS)
    torch.testing.assert_close(balanced_softmax_loss(logits, target, CLASS_COUNTS),
                               F.cross_entropy(logits + prior.log(), target))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.25])
def test_label_smoothing_all_equals_pytorch(batch, smoothing):
    logits, target = batch
    torch.testing.assert_close(
        label_smoothing_loss(logits, target, smoothing=smoothing, spread="all"),
        F.cross_entropy(logits, target, label_smoothing=smoothing))


def test_label_smoothing_others_puts_eps_over_c_minus_one_on_wrong_classes(batch):
    logits, target = batch
    num_classes, eps = logits.shape[1], 0.2
    soft = torch.full_like(logits, eps / (num_classes - 1))
    soft[torch.arange(len(target)), target] = 1 - eps
    expected = -(soft * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(label_smoothing_loss(logits, target, eps, spread="others"), expected)


@pytest.mark.parametrize("spread", ["all", "others"])
def test_smoothing_zero_is_cross_entropy(batch, spread):
    logits, target = batch
    torch.testing.assert_close(label_smoothing_loss(logits, target, 0.0, spread=spread),
                               F.cross_entropy(logits, target))


def test_poly_epsilon_zero_is_cross_entropy(batch):
    logits, target = batch
    torch.testing.assert_close(poly_loss(logits, target, epsilon=0.0), F.cross_entropy(logits, target))


def test_poly_adds_epsilon_times_one_minus_pt(batch):
    logits, target = batch
    pt = logits.softmax(1)[torch.arange(len(target)), target]
    expected = F.cross_entropy(logits, target) + 2.0 * (1 - pt).mean()
    torch.testing.assert_close(poly_loss(logits, target, epsilon=2.0), expected)


def test_weighted_ce_power_zero_is_cross_entropy(batch):
    logits, target = batch
    torch.testing.assert_close(weighted_ce_loss(logits, target, CLASS_COUNTS, power=0.0),
                               F.cross_entropy(logits, target))


def test_weighted_ce_uses_inverse_frequency(batch):
    logits, target = batch
    weights = 1.0 / torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    torch.testing.assert_close(weighted_ce_loss(logits, target, CLASS_COUNTS, power=1.0),
                               F.cross_entropy(logits, target, weight=weights))


def test_class_balanced_weights_follow_effective_number(batch):
    logits, target = batch
    beta = 0.99
    counts = torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    weights = (1 - beta) / (1 - beta ** counts)
    weights = weights / weights.sum() * len(CLASS_COUNTS)
    expected = (weights[target] * F.cross_entropy(logits, target, reduction="none")).mean()
    torch.testing.assert_close(class_balanced_loss(logits, target, CLASS_COUNTS, beta=beta,
                                                   base="ce"), expected)


def test_class_balanced_beta_zero_is_the_base_loss(batch):
    logits, target = batch
    torch.testing.assert_close(
        class_balanced_loss(logits, target, CLASS_COUNTS, beta=0.0, base="focal", gamma=1.5),
        focal_loss(logits, target, gamma=1.5))


def test_ldam_margins_and_scale(batch):
    logits, target = batch
    counts = torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    margins = counts ** -0.25
    margins = margins * 0.5 / margins.max()
    assert margins.max().item() == pytest.approx(0.5)
    shifted = logits.clone()
    shifted[torch.arange(len(target)), target] -= margins[target]
    torch.testing.assert_close(ldam_loss(logits, target, CLASS_COUNTS),
                               F.cross_entropy(30.0 * shifted, target))


def test_ldam_drw_switches_on_class_balanced_weights(batch):
    logits, target = batch
    loss = build_loss("ldam", num_classes=6, class_counts=CLASS_COUNTS, drw_start=0.8)
    loss.on_epoch_start(epoch=159, num_epochs=200)
    before = loss(logits, target)
    torch.testing.assert_close(before, ldam_loss(logits, target, CLASS_COUNTS))
    loss.on_epoch_start(epoch=160, num_epochs=200)
    after = loss(logits, target)
    counts = torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    weights = (1 - 0.9999) / (1 - 0.9999 ** counts)
    torch.testing.assert_close(after, ldam_loss(logits, target, CLASS_COUNTS, weight=weights))
    assert not torch.allclose(before, after)


def test_ldam_drw_start_one_never_reweights(batch):
    logits, target = batch
    loss = build_loss("ldam", num_classes=6, class_counts=CLASS_COUNTS, drw_start=1.0)
    loss.on_epoch_start(epoch=199, num_epochs=200)
    torch.testing.assert_close(loss(logits, target), ldam_loss(logits, target, CLASS_COUNTS))


def test_soft_f1_perfect_predictions_give_near_zero_loss():
    target = torch.arange(4).repeat(5)
    logits = F.one_hot(target, 4).double() * 50
    assert soft_f1_loss(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_soft_f1_matches_hand_computed_f1():
    probs = torch.tensor([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7]], dtype=torch.float64)
    target = torch.tensor([0, 0, 1])
    tp, fp, fn = (torch.tensor(v, dtype=torch.float64)
                  for v in ([1.2, 0.7], [0.3, 0.8], [0.8, 0.3]))
    f1 = 2 * tp / (2 * tp + fp + fn)
    value = soft_f1_loss(probs.log(), target, epsilon=1e-12)
    assert value.item() == pytest.approx(1 - f1.mean().item(), rel=1e-9)


def test_soft_f1_clamp_freezes_gradient_when_f1_saturates():
    target = torch.arange(3).repeat(4)
    logits = (F.one_hot(target, 3).double() * 40).requires_grad_(True)
    soft_f1_loss(logits, target, clamp=True).backward()
    assert torch.count_nonzero(logits.grad) == 0
    logits.grad = None
    soft_f1_loss(logits, target, clamp=False).backward()
    assert torch.count_nonzero(logits.grad) > 0


# --- reduction: "none" is the per-sample vector w_tᵢ·ℓᵢ, "sum" its sum (PyTorch's convention) --


def test_focal_reduction_worked_example():
    """Two rows of equal logits, C = 2: p_t = 1/2, ℓ = (1/2)²·ln 2 = 0.1733 each."""
    logits, target = torch.zeros(2, 2, dtype=torch.float64), torch.tensor([0, 1])
    each = 0.25 * math.log(2)
    assert focal_loss(logits, target, reduction="none").tolist() == pytest.approx([each, each])
    assert focal_loss(logits, target, reduction="sum").item() == pytest.approx(2 * each)
    assert focal_loss(logits, target).item() == pytest.approx(each)
    weighted = focal_loss(logits, target, weight=[1.0, 3.0], reduction="none")
    assert weighted.tolist() == pytest.approx([each, 3 * each])


def test_focal_reduction_none_is_the_papers_per_sample_loss(batch):
    logits, target = batch
    alpha = torch.linspace(0.5, 3.0, logits.shape[1], dtype=torch.float64)
    weight = torch.linspace(2.0, 0.5, logits.shape[1], dtype=torch.float64)
    pt = logits.softmax(1)[torch.arange(len(target)), target]
    expected = -alpha[target] * (1 - pt) ** 1.5 * pt.log()
    torch.testing.assert_close(focal_loss(logits, target, gamma=1.5, alpha=alpha,
                                          reduction="none"), expected)
    torch.testing.assert_close(
        focal_loss(logits, target, gamma=1.5, alpha=alpha, weight=weight, reduction="sum"),
        (weight[target] * expected).sum())
    torch.testing.assert_close(  # the mean: Σ w ℓ / Σ w, alpha inside ℓ
        focal_loss(logits, target, gamma=1.5, alpha=alpha, weight=weight),
        (weight[target] * expected).sum() / weight[target].sum())


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_cross_entropy_reductions_equal_pytorch(batch, reduction):
    logits, target = batch
    weight = torch.linspace(0.5, 2.0, logits.shape[1], dtype=torch.float64)
    torch.testing.assert_close(
        cross_entropy_loss(logits, target, weight=weight, reduction=reduction),
        F.cross_entropy(logits, target, weight=weight, reduction=reduction))


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_label_smoothing_reductions_equal_pytorch(batch, reduction):
    logits, target = batch
    torch.testing.assert_close(
        label_smoothing_loss(logits, target, smoothing=0.2, reduction=reduction),
        F.cross_entropy(logits, target, label_smoothing=0.2, reduction=reduction))


def test_label_smoothing_none_weights_each_sample_by_its_true_class(batch):
    logits, target = batch
    weight = torch.linspace(0.5, 2.0, logits.shape[1], dtype=torch.float64)
    unweighted = F.cross_entropy(logits, target, label_smoothing=0.2, reduction="none")
    torch.testing.assert_close(
        label_smoothing_loss(logits, target, 0.2, weight=weight, reduction="none"),
        weight[target] * unweighted)


def test_poly_reduction_none(batch):
    logits, target = batch
    pt = logits.softmax(1)[torch.arange(len(target)), target]
    expected = F.cross_entropy(logits, target, reduction="none") + 2.0 * (1 - pt)
    torch.testing.assert_close(poly_loss(logits, target, epsilon=2.0, reduction="none"), expected)


def test_class_balanced_reduction_none_and_sum(batch):
    logits, target = batch
    counts = torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    weights = (1 - 0.99) / (1 - 0.99 ** counts)
    weights = weights / weights.sum() * len(CLASS_COUNTS)
    expected = weights[target] * F.cross_entropy(logits, target, reduction="none")
    kwargs = {"beta": 0.99, "base": "ce"}
    torch.testing.assert_close(
        class_balanced_loss(logits, target, CLASS_COUNTS, reduction="none", **kwargs), expected)
    torch.testing.assert_close(
        class_balanced_loss(logits, target, CLASS_COUNTS, reduction="sum", **kwargs),
        expected.sum())


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_ldam_reductions_equal_pytorch_on_shifted_logits(batch, reduction):
    logits, target = batch
    counts = torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    margins = counts ** -0.25
    margins = margins * 0.5 / margins.max()
    shifted = logits.clone()
    shifted[torch.arange(len(target)), target] -= margins[target]
    weight = torch.linspace(0.5, 2.0, logits.shape[1], dtype=torch.float64)
    torch.testing.assert_close(
        ldam_loss(logits, target, CLASS_COUNTS, weight=weight, reduction=reduction),
        F.cross_entropy(30.0 * shifted, target, weight=weight, reduction=reduction))


def test_logit_adjusted_and_weighted_ce_reduction_none(batch):
    logits, target = batch
    counts = torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    prior = counts / counts.sum()
    torch.testing.assert_close(
        logit_adjusted_loss(logits, target, CLASS_COUNTS, tau=0.5, reduction="none"),
        F.cross_entropy(logits + 0.5 * prior.log(), target, reduction="none"))
    torch.testing.assert_close(
        balanced_softmax_loss(logits, target, CLASS_COUNTS, reduction="sum"),
        F.cross_entropy(logits + prior.log(), target, reduction="sum"))
    inverse = 1.0 / counts
    inverse = inverse / inverse.sum() * len(CLASS_COUNTS)  # normalised to sum to C
    torch.testing.assert_close(weighted_ce_loss(logits, target, CLASS_COUNTS, reduction="none"),
                               F.cross_entropy(logits, target, weight=inverse, reduction="none"))


def test_module_reduction_none_gives_one_value_per_sample(batch):
    logits, target = batch
    loss = build_loss("focal", num_classes=6, gamma=2.0, reduction="none")
    assert loss(logits, target).shape == (len(target),)
    torch.testing.assert_close(loss(logits, target).mean(), focal_loss(logits, target))
