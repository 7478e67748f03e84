"""Fused forward/backward kernels built from native PyTorch operations.

The obvious autograd form of focal loss, label smoothing or soft-F1 records a dozen element-wise
operations on the ``(N, C)`` logits and reads them again in backward. Here losses that depend on
the logits only through the per-sample cross-entropy (focal, Poly-1, class-balanced) reuse native
cross-entropy and add a few operations on ``(N,)`` vectors; label smoothing and soft-F1 are
``autograd.Function``s that compute the value from one ``log_softmax`` (or ``softmax``) and write
the analytic gradient in about as many passes as native cross-entropy's backward. Tests compare each with its plain
autograd formulation (``lossbench.losses.plain``) in value and gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# A per-sample term as a function of c = −log p_t (the per-sample cross-entropy):
# term(c) -> (φ(c), dφ/dc), element-wise on an (N,) tensor, evaluated without autograd.
SampleTerm = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def cross_entropy_term(ce: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """φ(c) = c: cross-entropy."""
    return ce, torch.ones_like(ce)


def focal_term(gamma: float) -> SampleTerm:
    """φ(c) = (1−p)^γ·c with p = e^{−c}; dφ/dc = (1−p)^{γ−1}·(γ·p·c + (1−p)).

    1−p is computed as −expm1(−c), exact near p = 1. (1−p)^{γ−1} is taken of 1−p clamped to the
    smallest normal float, so at p = 1 exactly it is finite and multiplies γ·p·c + (1−p) = 0:
    the derivative is 0 there, its limit, instead of the ``inf·0 = NaN`` of the obvious form
    for 0 < γ < 1.
    """
    if gamma == 0:
        return cross_entropy_term

    def term(ce: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tiny = torch.finfo(ce.dtype).tiny
        pt = torch.exp(-ce)
        one_minus_pt = torch.expm1(-ce).neg_()
        power = one_minus_pt.clamp_min(tiny).pow_(gamma - 1.0)
        slope = torch.add(one_minus_pt, pt.mul_(ce), alpha=gamma).mul_(power)
        value = power.mul_(one_minus_pt).mul_(ce)
        return value, slope

    return term


def poly_term(epsilon: float) -> SampleTerm:
    """φ(c) = c + ε(1 − e^{−c}) (Poly-1); dφ/dc = 1 + ε·e^{−c}."""

    def term(ce: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pt = torch.exp(-ce)
        value = torch.add(ce, torch.expm1(-ce), alpha=-epsilon)
        return value, pt.mul_(epsilon).add_(1.0)

    return term


def reweighted_cross_entropy(logits, target, sample_scale, term: SampleTerm) -> torch.Tensor:
    """Σᵢ sᵢ·φ(cᵢ) for a loss that depends on the logits only through cᵢ = CE(zᵢ, tᵢ).

    Its gradient is Σᵢ sᵢ·φ′(cᵢ)·∂cᵢ/∂z, so native cross-entropy (one fused kernel forward and
    backward) does all the (N, C) work, and φ, φ′ cost a few operations on (N,) vectors:
    the value is Σ sᵢφ(cᵢ), the gradient flows through ``dot(c, s·φ′)`` with φ′ held
    constant. ``sample_scale`` is sᵢ (weight over the reduction's denominator), an ``(N,)``
    tensor or a float. First-order exact (``gradcheck`` holds); not for double backward.
    """
    ce = F.cross_entropy(logits, target, reduction="none")
    with torch.no_grad():
        value, slope = term(ce.detach())
        total = (value * sample_scale).sum()
        slope = slope * sample_scale
    linear = torch.dot(ce, slope)
    return linear + (total - linear.detach())


class SmoothedCrossEntropy(torch.autograd.Function):
    """Σᵢ sᵢ·[−a·log p_{i,tᵢ} − b·Σ_c log p_{i,c}] from one log-softmax, with a + b·C = 1.

    ``sample_scale`` holds sᵢ (per-sample weight over the reduction's denominator), an ``(N,)``
    tensor or a float. Since a + bC = 1 the gradient is sᵢ·(p_{ij} − b − a·δ_{j,tᵢ}): one
    ``exp`` of the saved log-probabilities, one in-place update and a scatter.
    """

    @staticmethod
    def forward(ctx, logits, target, sample_scale, on_target: float, on_every: float):
        log_probs = torch.log_softmax(logits, dim=1)
        index = target.unsqueeze(1)
        log_pt = log_probs.gather(1, index).squeeze(1)
        per_sample = log_probs.sum(dim=1).mul_(on_every).add_(log_pt, alpha=on_target)
        ctx.save_for_backward(log_probs, index)
        ctx.coefficients = (sample_scale, on_target, on_every)
        return -(per_sample * sample_scale).sum()

    @staticmethod
    def backward(ctx, grad_output):
        log_probs, index = ctx.saved_tensors
        sample_scale, on_target, on_every = ctx.coefficients
        scale = grad_output * sample_scale
        column = scale.unsqueeze(1) if scale.dim() else scale
        grad = torch.exp(log_probs)
        if on_every:
            grad.sub_(on_every)
        grad.mul_(column)
        target_shift = (-on_target * scale).expand(index.shape[0]).unsqueeze(1)
        grad.scatter_add_(1, index, target_shift)
        return grad, None, None, None, None


def f1_from_totals(true_pos, prob_sum, class_size, epsilon: float, clamp: bool, weight):
    """1 − mean_c F1_c from per-class soft totals (TP, Σp, n_c), the common soft-F1 formulation.

    precision = TP/(TP+FP+ε), recall = TP/(TP+FN+ε), F1 = 2PR/(P+R+ε) with FP = Σp − TP and
    FN = n − TP; ``clamp`` limits F1 to [ε, 1−ε] as the widely copied version does.
    """
    precision = true_pos / (prob_sum + epsilon)
    recall = true_pos / (class_size + epsilon)
    f1 = 2 * precision * recall / (precision + recall + epsilon)
    if clamp:
        f1 = f1.clamp(min=epsilon, max=1 - epsilon)
    if weight is None:
        return 1 - f1.mean()
    return 1 - (f1 * weight).sum() / weight.sum()


class SoftF1Loss(torch.autograd.Function):
    """Soft-F1 loss from one softmax: per-class totals, then the gradient through the softmax.

    The loss depends on p only through TP_c = Σ_{i:tᵢ=c} p_{ic} and S_c = Σᵢ p_{ic}; with
    g_S = ∂L/∂S and g_T = ∂L/∂TP (from a C-sized autograd graph), ∂L/∂p_{ij} = g_S[j] + δ_{j,tᵢ}·g_T[j],
    and the softmax backward gives ∂L/∂z_{ij} = p_{ij}·(∂L/∂p_{ij} − Σ_k p_{ik}·∂L/∂p_{ik}).
    """

    @staticmethod
    def forward(ctx, logits, target, epsilon: float, clamp: bool, weight):
        probs = torch.softmax(logits, dim=1)
        num_classes = logits.shape[1]
        index = target.unsqueeze(1)
        prob_at_target = probs.gather(1, index).squeeze(1)
        true_pos = probs.new_zeros(num_classes).index_add_(0, target, prob_at_target)
        prob_sum = probs.sum(dim=0)
        class_size = torch.bincount(target, minlength=num_classes).to(probs.dtype)
        ctx.save_for_backward(probs, index, prob_at_target, true_pos, prob_sum, class_size)
        ctx.options = (epsilon, clamp, weight)
        return f1_from_totals(true_pos, prob_sum, class_size, epsilon, clamp, weight)

    @staticmethod
    def backward(ctx, grad_output):
        probs, index, prob_at_target, true_pos, prob_sum, class_size = ctx.saved_tensors
        with torch.enable_grad():
            true_pos = true_pos.detach().requires_grad_()
            prob_sum = prob_sum.detach().requires_grad_()
            loss = f1_from_totals(true_pos, prob_sum, class_size, *ctx.options)
            grad_tp, grad_sum = torch.autograd.grad(loss, (true_pos, prob_sum), grad_output)
        target = index.squeeze(1)
        grad_tp_at_target = grad_tp[target]
        # Σ_k p_ik ∂L/∂p_ik for each row i
        row_dot = probs @ grad_sum + prob_at_target * grad_tp_at_target
        grad = grad_sum.unsqueeze(0) - row_dot.unsqueeze(1)
        grad.mul_(probs)
        grad.scatter_add_(1, index, (prob_at_target * grad_tp_at_target).unsqueeze(1))
        return grad, None, None, None, None
