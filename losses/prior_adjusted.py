"""Cross-entropy of logits shifted by the log class prior: logit adjustment, balanced softmax."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import LossModule, like, loss_entry
from ._checks import (
    check_inputs,
    check_reduction,
    class_counts_vector,
    class_vector,
)
from ._registry import implements, loss_info

INFO = loss_info("logit_adjusted")  # tau's allowed values (balanced softmax: tau = 1)


def log_prior(class_counts: torch.Tensor) -> torch.Tensor:
    """log π_c with π_c = n_c / Σ n."""
    counts = class_counts.double()
    return (counts / counts.sum()).log()


@loss_entry
def _logit_adjusted(logits, target, shift, weight, reduction: str):
    """Native cross-entropy of z + shift, with shift = τ·log π."""
    return F.cross_entropy(logits + like(shift, logits), target, weight=like(weight, logits),
                           reduction=reduction)


def logit_adjusted_loss(logits: torch.Tensor, target: torch.Tensor, class_counts,
                        tau: float = 1.0, weight=None, reduction: str = "mean") -> torch.Tensor:
    r"""Logit-adjusted cross-entropy (Menon et al., "Long-Tail Learning via Logit Adjustment",
    ICLR 2021).

    .. math:: \ell_i = -\log\frac{e^{z_{t_i}+\tau\log\pi_{t_i}}}{\sum_c e^{z_c+\tau\log\pi_c}},
              \quad \pi_c = n_c/\sum n

    ``tau`` ≥ 0 (default 1; 0 is cross-entropy, 1 is balanced softmax). Predictions use the raw
    logits. Native ``cross_entropy`` on the shifted logits. Args: logits ``(N, C)``, target
    ``(N,)``, class_counts ``(C,)``, weight: optional per-class weights (PyTorch's convention,
    :math:`\sum w_{t_i}\ell_i/\sum w_{t_i}`), reduction: ``"mean"`` (default), ``"sum"``
    (:math:`\sum_i w_{t_i}\ell_i`) or ``"none"`` (the ``(N,)`` vector :math:`w_{t_i}\ell_i`).
    Returns a scalar, or ``(N,)`` for ``"none"``.
    """
    check_inputs(logits, target)
    num_classes = logits.shape[1]
    counts = class_counts_vector(class_counts, num_classes, "logit_adjusted")
    tau = INFO.check("tau", tau)
    reduction = check_reduction(reduction)
    return _logit_adjusted(logits, target, tau * log_prior(counts),
                           class_vector(weight, num_classes, "weight"), reduction)


def balanced_softmax_loss(logits: torch.Tensor, target: torch.Tensor, class_counts,
                          weight=None, reduction: str = "mean") -> torch.Tensor:
    r"""Balanced softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
    NeurIPS 2020): cross-entropy of :math:`z + \log\pi`, i.e. logit adjustment with τ = 1.

    .. math:: \ell_i = -\log\frac{\pi_{t_i} e^{z_{t_i}}}{\sum_c \pi_c e^{z_c}}

    Args: logits ``(N, C)``, target ``(N,)``, class_counts ``(C,)``, weight (optional),
    reduction (``"mean"``, ``"sum"`` or ``"none"``) as :func:`logit_adjusted_loss`.
    """
    check_inputs(logits, target)
    num_classes = logits.shape[1]
    counts = class_counts_vector(class_counts, num_classes, "balanced_softmax")
    reduction = check_reduction(reduction)
    return _logit_adjusted(logits, target, log_prior(counts),
                           class_vector(weight, num_classes, "weight"), reduction)


class _PriorAdjustedModule(LossModule):
    def __init__(self, num_classes: int, class_counts, tau: float, weight,
                 reduction: str) -> None:
        super().__init__(num_classes, weight, reduction)
        counts = class_counts_vector(class_counts, num_classes, self.loss_name)
        self.tau = INFO.check("tau", tau)
        self.register_buffer("log_prior", log_prior(counts))
        self.register_buffer("shift", self.tau * self.log_prior)  # τ·log π, added to the logits

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        return _logit_adjusted(logits, target, self.cast("shift", logits),
                               self.cast("weight", logits), self.reduction)


@implements("logit_adjusted")
class LogitAdjustedLoss(_PriorAdjustedModule):
    """Module form of :func:`logit_adjusted_loss`; log π is a buffer."""

    def __init__(self, num_classes: int, class_counts=None, *, tau: float = 1.0,
                 weight=None, reduction: str = "mean") -> None:
        super().__init__(num_classes, class_counts, tau, weight, reduction)

    def extra_repr(self) -> str:
        return self.describe(f"tau={self.tau:g}")


@implements("balanced_softmax")
class BalancedSoftmaxLoss(_PriorAdjustedModule):
    """Module form of :func:`balanced_softmax_loss`."""

    def __init__(self, num_classes: int, class_counts=None, *, weight=None,
                 reduction: str = "mean") -> None:
        super().__init__(num_classes, class_counts, 1.0, weight, reduction)
