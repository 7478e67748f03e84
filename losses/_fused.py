"""Fused forward/backward kernels built from native PyTorch operations.

The obvious autograd form of focal loss, label smoothing or soft-F1 records a dozen element-wise
operations on the ``(N, C)`` logits and reads them again in backward. These ``autograd.Function``s
compute the value from one ``log_softmax`` (or ``softmax``) and write the analytic gradient in
about as many passes as native cross-entropy's backward. Tests compare each with its plain
autograd formulation (``lossbench.losses.plain``) in value and gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# φ(x) -> (φ(x), dφ/dx) for x = log p_t, evaluated element-wise on an (N,) tensor.
TargetTerm = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def cross_entropy_term(log_pt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """φ(x) = −x: cross-entropy."""
    return -log_pt, torch.full_like(log_pt, -1.0)


def focal_term(gamma: float) -> TargetTerm:
    """φ(x) = −(1−eˣ)^γ·x with its derivative, finite for every γ ≥ 0 and every x ≤ 0.

    dφ/dx = (1−p)^γ·(γ·p·x/(1−p) − 1). With q = 1−p computed as −expm1(x) (exact near p = 1),
    x/q → −1 as q → 0, so the derivative is written with that limit instead of ``0·inf``:
    no NaN at saturated probabilities even for 0 < γ < 1.
    """

    def term(log_pt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        one_minus_pt = -torch.expm1(log_pt)
        modulator = one_minus_pt.pow(gamma)
        if gamma == 0:
            return -log_pt, torch.full_like(log_pt, -1.0)
        positive = one_minus_pt > 0
        ratio = torch.where(positive, log_pt / torch.where(positive, one_minus_pt, 1.0), -1.0)
        slope = modulator * (gamma * torch.exp(log_pt) * ratio - 1.0)
        return -modulator * log_pt, slope

    return term


def poly_term(epsilon: float) -> TargetTerm:
    """φ(x) = −x + ε(1 − eˣ): Poly-1; dφ/dx = −1 − ε·eˣ."""

    def term(log_pt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pt = torch.exp(log_pt)
        return epsilon * (1.0 - pt) - log_pt, -1.0 - epsilon * pt

    return term


class TargetLogProbLoss(torch.autograd.Function):
    """Σᵢ sᵢ·[φ(log p_{i,tᵢ}) − b·Σ_c log p_{i,c}] in one log-softmax pass.

    ``sample_scale`` holds sᵢ (the per-sample weight already divided by the reduction's
    denominator) as an ``(N,)`` tensor or a float. The gradient with respect to the logits is
    ``sᵢ·[(bC − φ′)·p_{ij} + φ′·δ_{j,tᵢ} − b]``.
    """

    @staticmethod
    def forward(ctx, logits, target, sample_scale, term: TargetTerm, smooth_b: float):
        log_probs = torch.log_softmax(logits, dim=1)
        index = target.unsqueeze(1)
        log_pt = log_probs.gather(1, index).squeeze(1)
        value, slope = term(log_pt)
        if smooth_b:
            value = value - smooth_b * log_probs.sum(dim=1)
        ctx.save_for_backward(log_probs, index, slope)
        ctx.sample_scale = sample_scale
        ctx.smooth_b = smooth_b
        return (value * sample_scale).sum()

    @staticmethod
    def backward(ctx, grad_output):
        log_probs, index, slope = ctx.saved_tensors
        scale = grad_output * ctx.sample_scale
        smooth_b = ctx.smooth_b
        num_classes = log_probs.shape[1]
        grad = torch.exp(log_probs)
        grad.mul_(((smooth_b * num_classes - slope) * scale).unsqueeze(1))
        if smooth_b:
            shift = smooth_b * scale
            grad.sub_(shift.unsqueeze(1) if shift.dim() else shift)
        grad.scatter_add_(1, index, (slope * scale).unsqueeze(1))
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
