"""One suite run over every registered loss: a new loss is tested the moment it is registered."""

from __future__ import annotations

import pytest
import torch
from loss_cases import (
    CLASS_COUNTS,
    NUM_CLASSES,
    all_cases,
    call_function,
    call_plain,
    case_id,
    make_module,
    random_batch,
)
from lossbench.losses import available_losses, loss_info

CASES = all_cases()


def value_and_grad(fn, logits):
    logits = logits.detach().clone().requires_grad_(True)
    value = fn(logits)
    (grad,) = torch.autograd.grad(value, logits)
    return value.detach(), grad


def test_registry_holds_the_ten_contract_losses():
    assert available_losses() == sorted([
        "ce", "weighted_ce", "focal", "label_smoothing", "soft_f1", "class_balanced", "ldam",
        "balanced_softmax", "logit_adjusted", "poly"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_value_and_gradient_match_plain_float64_formulation(case):
    name, params = case
    logits, target = random_batch()
    fused_value, fused_grad = value_and_grad(lambda z: make_module(name, params)(z, target), logits)
    plain_value, plain_grad = value_and_grad(lambda z: call_plain(name, z, target, params), logits)
    torch.testing.assert_close(fused_value, plain_value, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused_grad, plain_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_module_equals_function(case):
    name, params = case
    logits, target = random_batch(dtype=torch.float32, seed=1)
    module_value, module_grad = value_and_grad(lambda z: make_module(name, params)(z, target),
                                               logits)
    function_value, function_grad = value_and_grad(
        lambda z: call_function(name, z, target, params), logits)
    torch.testing.assert_close(module_value, function_value)
    torch.testing.assert_close(module_grad, function_grad)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradcheck_float64(case):
    name, params = case
    logits, target = random_batch(n=7, scale=1.5, seed=2)
    loss = make_module(name, params)
    assert torch.autograd.gradcheck(lambda z: loss(z, target), (logits.requires_grad_(True),))


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("magnitude", [1e4, -1e4])
def test_extreme_logits_stay_finite(case, magnitude):
    name, params = case
    logits, target = random_batch(n=32, scale=1.0, dtype=torch.float32, seed=3)
    extreme = logits.sign() * abs(magnitude)  # every logit at ±1e4: saturated probabilities
    extreme[:, 0] = magnitude  # rows where class 0 dominates (p_t ≈ 1 where t = 0)
    for z in (extreme, logits * 1e4):
        value, grad = value_and_grad(lambda x: make_module(name, params)(x, target), z)
        assert torch.isfinite(value), f"{name} value {value}"
        assert torch.isfinite(grad).all(), f"{name} gradient has NaN/inf"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_saturated_correct_predictions_are_finite(case):
    """p_t = 1 exactly in float32: the focal NaN other libraries have for 0 < gamma < 1."""
    name, params = case
    target = torch.arange(NUM_CLASSES).repeat(4)
    logits = torch.full((target.numel(), NUM_CLASSES), -200.0)
    logits[torch.arange(target.numel()), target] = 200.0
    value, grad = value_and_grad(lambda z: make_module(name, params)(z, target), logits)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", available_losses())
def test_bf16_autocast_value_is_float32_and_close(name):
    torch.manual_seed(4)
    layer = torch.nn.Linear(16, NUM_CLASSES)
    features = torch.randn(48, 16)
    target = torch.randint(0, NUM_CLASSES, (48,))
    loss = make_module(name, {})
    reference = loss(layer(features), target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(features)
        assert logits.dtype == torch.bfloat16
        value = loss(logits, target)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference, rtol=0.03, atol=0.03)
    value.backward()
    assert torch.isfinite(layer.weight.grad).all()


@pytest.mark.parametrize("name", available_losses())
def test_bf16_logits_give_float32_value(name):
    logits, target = random_batch(dtype=torch.bfloat16, seed=5)
    assert make_module(name, {})(logits, target).dtype == torch.float32


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_classes_absent_from_batch(case):
    name, params = case
    logits, target = random_batch(n=16, seed=6)
    target = target % 2  # only classes 0 and 1 present, 2..5 absent
    fused_value, fused_grad = value_and_grad(lambda z: make_module(name, params)(z, target), logits)
    plain_value, plain_grad = value_and_grad(lambda z: call_plain(name, z, target, params), logits)
    assert torch.isfinite(fused_value) and torch.isfinite(fused_grad).all()
    torch.testing.assert_close(fused_value, plain_value, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(fused_grad, plain_grad, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in available_losses() if loss_info(n).needs_class_counts])
def test_class_count_of_one_gives_finite_loss(name):
    assert CLASS_COUNTS[-1] == 1
    logits, target = random_batch(n=32, seed=7)
    target[:8] = NUM_CLASSES - 1
    value, grad = value_and_grad(lambda z: make_module(name, {})(z, target), logits)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", available_losses())
def test_module_follows_device_and_dtype_moves(name):
    loss = make_module(name, {"weight": [1.0] * NUM_CLASSES}).to(torch.float32)
    logits, target = random_batch(dtype=torch.float32, seed=8)
    assert loss(logits, target).shape == ()
    assert all(buffer.device.type == "cpu" for buffer in loss.buffers())


@pytest.mark.parametrize("name", available_losses())
def test_loss_info_declares_reference_and_search_space(name):
    info = loss_info(name)
    assert info.description and info.reference and info.module.__doc__
    assert "math:" in info.function.__doc__  # the formula is in the docstring
    for param, spec in info.search_space.items():
        assert param in info.params
        assert spec.kind in ("float", "int", "categorical")
