"""Bad input gets one ValueError that names the bad value and what is allowed."""

from __future__ import annotations

import pytest
import torch
from helpers.loss_cases import NUM_CLASSES, make_module, random_batch
from lossbench.cli import main
from lossbench.losses import available_losses, build_loss, focal_loss, loss_info, soft_f1_loss


def test_unknown_loss_name_suggests_nearest():
    with pytest.raises(ValueError, match=r"unknown loss 'focl'.*Did you mean 'focal'"):
        build_loss("focl", num_classes=3)


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match=r"no parameter 'gama'.*gamma"):
        build_loss("focal", num_classes=3, gama=2.0)


@pytest.mark.parametrize("name, params, pattern", [
    ("focal", {"gamma": -0.5}, r"gamma must be in \[0.0, inf\); got -0.5"),
    ("label_smoothing", {"smoothing": 1.0}, r"smoothing must be in \[0.0, 1.0\); got 1.0"),
    ("label_smoothing", {"smoothing": -0.1}, r"smoothing .* got -0.1"),
    ("label_smoothing", {"spread": "some"}, r"spread must be one of 'all', 'others'; got 'some'"),
    ("class_balanced", {"beta": 1.0}, r"beta must be in \[0.0, 1.0\); got 1.0"),
    ("class_balanced", {"base": "dice"}, r"base must be one of 'ce', 'focal'; got 'dice'"),
    ("logit_adjusted", {"tau": -1}, r"tau must be in \[0.0, inf\); got -1"),
    ("poly", {"epsilon": -2}, r"epsilon must be in \[-1.0, inf\); got -2"),
    ("weighted_ce", {"power": -1}, r"power .* got -1"),
    ("ldam", {"max_margin": 0}, r"max_margin must be in \(0.0, inf\); got 0"),
    ("focal", {"alpha": [1.0, 2.0]}, r"alpha must have one value per class \(6\); got 2"),
    ("ce", {"weight": [1.0] * 5}, r"weight must have one value per class \(6\); got 5"),
])
def test_bad_parameter_values(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_module(name, params)


@pytest.mark.parametrize("name", [n for n in available_losses() if loss_info(n).needs_class_counts])
def test_losses_needing_counts_refuse_to_build_without_them(name):
    with pytest.raises(ValueError, match=rf"loss '{name}' needs class_counts"):
        build_loss(name, num_classes=NUM_CLASSES)


@pytest.mark.parametrize("counts, pattern", [
    ([10, 5], r"class_counts must have one value per class \(6\); got 2"),
    ([10, 5, 0, 3, 2, 1], r"class_counts must be positive for every class; class 2 has 0"),
])
def test_bad_class_counts(counts, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_loss("balanced_softmax", num_classes=NUM_CLASSES, class_counts=counts)


@pytest.mark.parametrize("name", available_losses())
def test_bad_tensors_are_refused_by_every_loss(name):
    loss = make_module(name, {})
    logits, target = random_batch(n=8, dtype=torch.float32)
    bad_target = target.clone()
    bad_target[3] = NUM_CLASSES
    with pytest.raises(ValueError, match=r"target holds class 6, outside the allowed range \[0, 6\)"):
        loss(logits, bad_target)
    with pytest.raises(ValueError, match=r"target holds class -1"):
        loss(logits, target - 1 - target)  # all -1
    with pytest.raises(ValueError, match=r"logits must be 2-D .* got shape \(8, 6, 1\)"):
        loss(logits.unsqueeze(-1), target)
    with pytest.raises(ValueError, match=r"same length N; got 8 logits rows and 7 targets"):
        loss(logits, target[:7])
    with pytest.raises(ValueError, match=r"logits have 5 columns .* num_classes=6"):
        loss(logits[:, :5], target % 5)


def test_function_form_checks_too():
    logits, target = random_batch(n=4, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"gamma must be in"):
        focal_loss(logits, target, gamma=-1)
    with pytest.raises(ValueError, match=r"target holds class 9"):
        focal_loss(logits, torch.tensor([0, 1, 2, 9]))


def test_cli_unknown_loss_exits_2_with_one_line(capsys):
    assert main(["losses", "focl"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Did you mean 'focal'" in err


def test_cli_lists_every_loss_with_search_space(capsys):
    assert main(["losses"]) == 0
    out = capsys.readouterr().out
    for name in available_losses():
        assert name in out
    assert "gamma [0, 5]" in out and "smoothing [0, 0.3]" in out and "tau [0, 2]" in out


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_soft_f1_is_batch_level_and_refuses_per_sample_reductions(reduction):
    pattern = (rf"reduction must be one of 'mean'; got '{reduction}' \(soft-F1 is one value "
               r"for the whole batch")
    with pytest.raises(ValueError, match=pattern):
        build_loss("soft_f1", num_classes=NUM_CLASSES, reduction=reduction)
    logits, target = random_batch(n=8)
    with pytest.raises(ValueError, match=pattern):
        soft_f1_loss(logits, target, reduction=reduction)
    assert loss_info("soft_f1").reductions == ("mean",)


def test_bad_reduction_of_module_and_function():
    with pytest.raises(ValueError, match=r"reduction must be one of 'mean', 'sum', 'none'; "
                                         r"got 'elementwise_mean'"):
        build_loss("focal", num_classes=3, reduction="elementwise_mean")
    logits, target = random_batch(n=4)
    with pytest.raises(ValueError, match=r"'mean', 'sum', 'none'; got 'avg'"):
        focal_loss(logits, target, reduction="avg")


def test_unknown_loss_name_with_an_unhashable_name():
    with pytest.raises(ValueError, match=r"unknown loss \['focal'\]"):
        build_loss(["focal"], num_classes=3)
