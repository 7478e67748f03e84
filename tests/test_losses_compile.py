"""``torch.compile`` over every registered loss: the compiled loss equals the eager one.

Backend ``aot_eager``: Dynamo traces the module (the autograd Functions of ``_fused.py``
included) and AOTAutograd functionalises it and derives the joint forward/backward graph, which
is where a loss's tracing can go wrong; it runs that graph with eager kernels. Inductor adds code
generation (about 5 s a loss on a 2-core CPU, a minute for the suite) and is left to the GPU
timing runs. The input checks read the target range (``int(tensor)``), a graph break by design.
"""

from __future__ import annotations

import pytest
import torch
from helpers.loss_cases import WEIGHT, make_module, random_batch
from lossbench.losses import available_losses, loss_info
from torch._dynamo.testing import CompileCounterWithBackend

CASES = [pytest.param(name, reduction, id=f"{name}-{reduction}")
         for name in available_losses()
         for reduction in loss_info(name).reductions if reduction != "sum"]


def value_and_grad(loss, logits, target):
    logits = logits.detach().clone().requires_grad_(True)
    value = loss(logits, target)
    (grad,) = torch.autograd.grad(value, logits, torch.ones_like(value))
    return value.detach(), grad


@pytest.mark.slow
@pytest.mark.parametrize("name, reduction", CASES)
def test_compiled_loss_equals_eager_loss(name, reduction):
    torch._dynamo.reset()  # fresh caches: no case falls back to eager at the recompile limit
    loss = make_module(name, {"weight": WEIGHT}, reduction=reduction)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(loss, backend=counter)
    logits, target = random_batch(n=32, dtype=torch.float32, seed=20)
    value, grad = value_and_grad(compiled, logits, target)
    expected_value, expected_grad = value_and_grad(loss, logits, target)
    assert counter.frame_count >= 1  # something was compiled, not all run eagerly
    assert value.shape == expected_value.shape == (() if reduction == "mean" else (32,))
    torch.testing.assert_close(value, expected_value, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-8)
    # Later batches of the same shape agree too. The second call recompiles once (the first
    # filled the module's cache of cast buffers, which Dynamo guards on); from then on the
    # compiled graphs are reused: the third call compiles nothing.
    for seed in (21, 22):
        frames = counter.frame_count
        logits, target = random_batch(n=32, dtype=torch.float32, seed=seed)
        torch.testing.assert_close(value_and_grad(compiled, logits, target),
                                   value_and_grad(loss, logits, target), rtol=1e-6, atol=1e-8)
    assert counter.frame_count == frames
