"""One suite run over every registered loss: a new loss is tested the moment it is registered.

Tests taking the ``device`` and ``dtype`` fixtures (tests/conftest.py) run on the CPU and, where
there is one, on CUDA, in float32 and float64; the reference is always the plain autograd
formulation (``loss_info(name).plain``) in float64 on the CPU.
"""

from __future__ import annotations

import pytest
import torch
from helpers.loss_cases import (
    CLASS_COUNTS,
    NUM_CLASSES,
    TIMED_SHAPES,
    all_cases,
    call_function,
    call_plain,
    case_id,
    make_module,
    mean_weights,
    per_sample_cases,
    random_batch,
    shape_label,
    timing_counts,
)
from lossbench.losses import available_losses, build_loss, loss_info

CASES = all_cases()
PER_SAMPLE_CASES = per_sample_cases(CASES)
FUSED = ["focal", "label_smoothing", "soft_f1", "class_balanced", "ldam", "poly"]


def with_reductions(items, name_of=lambda item: item):
    """(item, reduction) for every reduction the item's loss allows."""
    return [pytest.param(item, reduction, id=f"{case_id(item) if isinstance(item, tuple) else item}"
                         f"-{reduction}")
            for item in items for reduction in loss_info(name_of(item)).reductions]


def value_and_grad(fn, logits, seed=0):
    """The value and d(value·r)/dz for a fixed random r (r = 1 for a scalar value)."""
    logits = logits.detach().clone().requires_grad_(True)
    value = fn(logits)
    weights = torch.ones_like(value) if value.dim() == 0 else torch.rand(
        value.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    ).to(device=value.device, dtype=value.dtype)  # the same r in every dtype
    (grad,) = torch.autograd.grad(value, logits, weights)
    return value.detach(), grad


def reference(name, logits, target, params, reduction="mean"):
    """The plain formulation's value and gradient in float64 on the CPU."""
    extra = {} if reduction == "mean" else {"reduction": reduction}
    return value_and_grad(lambda z: call_plain(name, z, target.cpu(), {**params, **extra}),
                          logits.detach().cpu().double())


def assert_matches_reference(value, grad, expected_value, expected_grad, dtype):
    """float64: equal to rounding; float32: float32 tolerances (the gradient's relative to its
    largest entry, as a float32 sum over a batch loses ~1e-7 of its largest term)."""
    assert value.dtype == dtype and grad.dtype == dtype and torch.isfinite(grad).all()
    value, grad = value.cpu().double(), grad.cpu().double()
    if dtype == torch.float64:
        torch.testing.assert_close(value, expected_value, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-8, atol=1e-12)
    else:
        torch.testing.assert_close(value, expected_value, rtol=2e-5, atol=1e-6)
        scale = expected_grad.abs().max().item()
        torch.testing.assert_close(grad, expected_grad, rtol=1e-3, atol=2e-5 * scale)


def test_registry_holds_the_ten_contract_losses():
    assert available_losses() == sorted([
        "ce", "weighted_ce", "focal", "label_smoothing", "soft_f1", "class_balanced", "ldam",
        "balanced_softmax", "logit_adjusted", "poly"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_value_and_gradient_match_plain_formulation(case, device, dtype):
    name, params = case
    logits, target = random_batch(dtype=dtype, device=device)
    loss = make_module(name, params).to(device)
    value, grad = value_and_grad(lambda z: loss(z, target), logits)
    assert_matches_reference(value, grad, *reference(name, logits, target, params), dtype)


@pytest.mark.parametrize("shape", TIMED_SHAPES, ids=shape_label)
@pytest.mark.parametrize("name", available_losses())
def test_timed_module_equals_plain_at_timed_shapes(name, shape, device, dtype):
    """What ``lossbench timing`` times is the right loss: at every timed shape the module it
    builds (the fused path, defaults, its class counts) equals the plain formulation."""
    counts = timing_counts(shape[1])
    loss = build_loss(name, shape[1], class_counts=counts).to(device)
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(*shape, generator=generator, dtype=dtype) * 3.0).to(device)
    target = torch.randint(0, shape[1], (shape[0],), generator=generator).to(device)
    info = loss_info(name)
    extra = [counts] if info.needs_class_counts else []
    value, grad = value_and_grad(lambda z: loss(z, target), logits)
    expected = value_and_grad(lambda z: info.plain(z, target.cpu(), *extra),
                              logits.detach().cpu().double())
    assert_matches_reference(value, grad, *expected, dtype)


def test_timed_shapes_are_the_timing_tables():
    from lossbench.timing.measure import DEFAULT_SHAPES, long_tail_counts

    assert tuple(DEFAULT_SHAPES) == TIMED_SHAPES
    for _, num_classes in TIMED_SHAPES:
        assert list(long_tail_counts(num_classes)) == timing_counts(num_classes)


@pytest.mark.parametrize("case, reduction", with_reductions(CASES, lambda case: case[0]))
def test_module_equals_function(case, reduction):
    name, params = case
    logits, target = random_batch(dtype=torch.float32, seed=1)
    module = make_module(name, params, reduction=reduction)
    module_value, module_grad = value_and_grad(lambda z: module(z, target), logits)
    function_value, function_grad = value_and_grad(
        lambda z: call_function(name, z, target, {**params, "reduction": reduction}), logits)
    torch.testing.assert_close(module_value, function_value)
    torch.testing.assert_close(module_grad, function_grad)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradcheck_float64(case, device):
    name, params = case
    logits, target = random_batch(n=7, scale=1.5, seed=2, device=device)
    loss = make_module(name, params).to(device)
    assert torch.autograd.gradcheck(lambda z: loss(z, target), (logits.requires_grad_(True),))


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("magnitude", [1e4, -1e4])
def test_extreme_logits_stay_finite(case, magnitude, device, dtype):
    name, params = case
    logits, target = random_batch(n=32, scale=1.0, dtype=dtype, seed=3, device=device)
    extreme = logits.sign() * abs(magnitude)  # every logit at ±1e4: saturated probabilities
    extreme[:, 0] = magnitude  # rows where class 0 dominates (p_t ≈ 1 where t = 0)
    loss = make_module(name, params).to(device)
    for z in (extreme, logits * 1e4):
        value, grad = value_and_grad(lambda x: loss(x, target), z)
        assert torch.isfinite(value), f"{name} value {value}"
        assert torch.isfinite(grad).all(), f"{name} gradient has NaN/inf"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_saturated_correct_predictions_are_finite(case, device, dtype):
    """p_t = 1 exactly in float32: the focal NaN other libraries have for 0 < gamma < 1."""
    name, params = case
    target = torch.arange(NUM_CLASSES, device=device).repeat(4)
    logits = torch.full((target.numel(), NUM_CLASSES), -200.0, dtype=dtype, device=device)
    logits[torch.arange(target.numel(), device=device), target] = 200.0
    loss = make_module(name, params).to(device)
    value, grad = value_and_grad(lambda z: loss(z, target), logits)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", available_losses())
def test_bf16_autocast_value_is_float32_and_close(name, device):
    torch.manual_seed(4)
    layer = torch.nn.Linear(16, NUM_CLASSES).to(device)
    features = torch.randn(48, 16).to(device)
    target = torch.randint(0, NUM_CLASSES, (48,)).to(device)
    loss = make_module(name, {}).to(device)
    reference_value = loss(layer(features), target)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        logits = layer(features)
        assert logits.dtype == torch.bfloat16
        value = loss(logits, target)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference_value, rtol=0.03, atol=0.03)
    value.backward()
    assert torch.isfinite(layer.weight.grad).all()


@pytest.mark.parametrize("name", available_losses())
def test_bf16_logits_give_float32_value(name, device):
    logits, target = random_batch(dtype=torch.bfloat16, seed=5, device=device)
    assert make_module(name, {}).to(device)(logits, target).dtype == torch.float32


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_classes_absent_from_batch(case, device):
    name, params = case
    logits, target = random_batch(n=16, seed=6, device=device)
    target = target % 2  # only classes 0 and 1 present, 2..5 absent
    loss = make_module(name, params).to(device)
    value, grad = value_and_grad(lambda z: loss(z, target), logits)
    assert_matches_reference(value, grad, *reference(name, logits, target, params),
                             torch.float64)


@pytest.mark.parametrize("name", [n for n in available_losses() if loss_info(n).needs_class_counts])
def test_class_count_of_one_gives_finite_loss(name):
    assert CLASS_COUNTS[-1] == 1
    logits, target = random_batch(n=32, seed=7)
    target[:8] = NUM_CLASSES - 1
    value, grad = value_and_grad(lambda z: make_module(name, {})(z, target), logits)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", available_losses())
def test_module_follows_device_and_dtype_moves(name, device):
    loss = make_module(name, {"weight": [1.0] * NUM_CLASSES}).to(device=device,
                                                                    dtype=torch.float32)
    assert all(buffer.device.type == device.type for buffer in loss.buffers())
    logits, target = random_batch(dtype=torch.float32, seed=8, device=device)
    value = loss(logits, target)
    assert value.shape == () and value.device.type == device.type
    torch.testing.assert_close(value.cpu(), make_module(name, {})(logits.cpu(), target.cpu()))


@pytest.mark.parametrize("name", available_losses())
def test_loss_info_declares_reference_and_search_space(name):
    info = loss_info(name)
    assert info.description and info.reference and info.module.__doc__
    assert "math:" in info.function.__doc__  # the formula is in the docstring
    assert "reduction" in info.function.__doc__
    for param, spec in info.search_space.items():
        assert param in info.params
        assert spec.kind in ("float", "int", "categorical")


# --- reduction -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", available_losses())
def test_reduction_is_not_a_tuned_parameter(name):
    info = loss_info(name)
    assert "reduction" not in info.params and "reduction" not in info.search_space
    assert info.reductions[0] == "mean"
    assert info.reductions == (("mean",) if name == "soft_f1" else ("mean", "sum", "none"))
    with pytest.raises(ValueError, match=r"has no parameter 'reductoin'"):
        make_module(name, {"reductoin": "sum"})


@pytest.mark.parametrize("case", PER_SAMPLE_CASES, ids=case_id)
def test_reduction_none_is_the_per_sample_plain_formula(case, device, dtype):
    """(N,) values w_tᵢ·ℓᵢ (PyTorch's convention), and their gradient, as the plain formula."""
    name, params = case
    logits, target = random_batch(n=24, dtype=dtype, seed=9, device=device)
    loss = make_module(name, params, reduction="none").to(device)
    value, grad = value_and_grad(lambda z: loss(z, target), logits, seed=1)
    assert value.shape == (24,)
    expected = value_and_grad(
        lambda z: call_plain(name, z, target.cpu(), {**params, "reduction": "none"}),
        logits.detach().cpu().double(), seed=1)
    assert_matches_reference(value, grad, *expected, dtype)


@pytest.mark.parametrize("case", PER_SAMPLE_CASES, ids=case_id)
def test_reduction_sum_is_the_sum_of_none(case, device):
    name, params = case
    logits, target = random_batch(n=24, seed=10, device=device)
    per_sample = make_module(name, params, reduction="none").to(device)(logits, target)
    total = make_module(name, params, reduction="sum").to(device)(logits, target)
    assert total.shape == ()
    torch.testing.assert_close(total, per_sample.sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", PER_SAMPLE_CASES, ids=case_id)
def test_reduction_mean_is_the_weighted_mean_of_none(case):
    """mean = Σ w_t ℓ_t / Σ w_t with per-class weights (the plain mean over N without them,
    alpha and the class-balanced weights included, as their papers do)."""
    name, params = case
    logits, target = random_batch(n=24, seed=11)
    per_sample = make_module(name, params, reduction="none")(logits, target)
    mean = make_module(name, params)(logits, target)
    weight = mean_weights(name, params)
    denominator = len(target) if weight is None else weight[target].sum()
    torch.testing.assert_close(mean, per_sample.sum() / denominator, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mean, make_module(name, params, reduction="mean")(logits, target),
                               rtol=0, atol=0)


@pytest.mark.parametrize("name", available_losses())
@pytest.mark.parametrize("bad", ["avg", "Mean", None, "batchmean"])
def test_bad_reduction_names_the_value_and_the_allowed_ones(name, bad):
    allowed = ", ".join(repr(r) for r in loss_info(name).reductions)
    pattern = rf"reduction must be one of {allowed}; got {bad!r}"
    with pytest.raises(ValueError, match=pattern):
        make_module(name, {}, reduction=bad)
    logits, target = random_batch(n=4)
    with pytest.raises(ValueError, match=pattern):
        call_function(name, logits, target, {"reduction": bad})


@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize("case", PER_SAMPLE_CASES, ids=case_id)
def test_gradcheck_float64_sum_and_none(case, reduction, device):
    name, params = case
    logits, target = random_batch(n=7, scale=1.5, seed=12, device=device)
    loss = make_module(name, params, reduction=reduction).to(device)
    assert torch.autograd.gradcheck(lambda z: loss(z, target), (logits.requires_grad_(True),))


def autograd_nodes(value: torch.Tensor) -> list[str]:
    """Names of the autograd nodes behind ``value`` (each once)."""
    seen, names, stack = set(), [], [value.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("name, reduction", with_reductions(FUSED))
def test_fused_losses_stay_fused_for_every_reduction(name, reduction):
    """The fused forms record no softmax, one-hot or power on the logits: their (N, C) work is
    one native log-softmax/cross-entropy or one autograd Function; the plain form records many."""
    logits, target = random_batch(n=16, seed=13)
    logits.requires_grad_(True)
    fused = autograd_nodes(make_module(name, {}, reduction=reduction)(logits, target))
    plain = autograd_nodes(call_plain(name, logits, target, {}))
    obvious = {"SoftmaxBackward0", "PowBackward0", "PowBackward1", "LogBackward0"}
    assert not obvious & set(fused), fused
    assert obvious & set(plain)
    assert len(fused) <= 5 < len(plain), (fused, plain)


def test_inputs_are_checked_once_per_call(monkeypatch):
    """The target-range check (its one ``aminmax``) runs once per call, function or module."""
    calls = []
    aminmax = torch.aminmax

    def counting(*args, **kwargs):
        calls.append(1)
        return aminmax(*args, **kwargs)

    monkeypatch.setattr(torch, "aminmax", counting)
    logits, target = random_batch(n=8)
    for name in available_losses():
        module = make_module(name, {})
        for form, call in (("module", module), ("function", loss_info(name).function)):
            calls.clear()
            call(logits, target, *([CLASS_COUNTS] if form == "function"
                                   and loss_info(name).needs_class_counts else []))
            assert len(calls) == 1, f"{name} {form}: checked {len(calls)} times"
