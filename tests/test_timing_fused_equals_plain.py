"""What the timing table times is the right loss: at every timed shape, each loss module (the
fused path) equals its plain autograd formulation in value and gradient on random inputs."""

from __future__ import annotations

import pytest
import torch
from lossbench.losses import available_losses, build_loss, loss_info
from lossbench.timing.measure import DEFAULT_SHAPES, long_tail_counts, shape_label


def random_logits(shape, dtype, seed=0):
    """Wider than the timing batch (scale 3): saturated and small probabilities both occur."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, generator=generator, dtype=dtype) * 3.0
    target = torch.randint(0, shape[1], (shape[0],), generator=generator)
    return logits, target


def value_and_grad(fn, logits):
    logits = logits.detach().clone().requires_grad_(True)
    value = fn(logits)
    (grad,) = torch.autograd.grad(value, logits)
    return value.detach(), grad


def fused_and_plain(name, shape, dtype):
    counts = long_tail_counts(shape[1])
    info = loss_info(name)
    module = build_loss(name, shape[1], class_counts=counts)
    extra = [counts] if info.needs_class_counts else []
    logits, target = random_logits(shape, dtype)
    fused = value_and_grad(lambda z: module(z, target), logits)
    plain = value_and_grad(lambda z: info.plain(z.double(), target, *extra), logits)
    return fused, plain


@pytest.mark.parametrize("shape", DEFAULT_SHAPES, ids=shape_label)
@pytest.mark.parametrize("name", available_losses())
def test_float32_fused_loss_matches_float64_plain_formulation(name, shape):
    """The timed computation (float32) against the float64 reference, float32 tolerances."""
    (value, grad), (plain_value, plain_grad) = fused_and_plain(name, shape, torch.float32)
    assert value.dtype == torch.float32 and torch.isfinite(grad).all()
    torch.testing.assert_close(value.double(), plain_value, rtol=2e-5, atol=1e-6)
    scale = plain_grad.abs().max().item()
    torch.testing.assert_close(grad.double(), plain_grad.double(), rtol=1e-3,
                               atol=2e-5 * scale)


@pytest.mark.parametrize("shape", DEFAULT_SHAPES[:2], ids=shape_label)
@pytest.mark.parametrize("name", available_losses())
def test_float64_fused_loss_equals_plain_formulation(name, shape):
    """In float64 the two agree to rounding: same mathematics, not an approximation."""
    (value, grad), (plain_value, plain_grad) = fused_and_plain(name, shape, torch.float64)
    torch.testing.assert_close(value, plain_value, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, plain_grad, rtol=1e-8, atol=1e-13)
