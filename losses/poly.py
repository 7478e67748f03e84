"""Poly-1 loss (Leng et al. 2022), fused into one log-softmax pass."""

from __future__ import annotations

import torch

from ._base import LossModule, loss_entry, sample_scale
from ._checks import check_inputs, check_reduction, class_vector
from ._fused import poly_term, reweighted_cross_entropy
from ._registry import implements, loss_info

INFO = loss_info("poly")


@loss_entry
def _poly(logits, target, epsilon: float, weight, reduction: str):
    scale = sample_scale(target, weight, logits, reduction)
    return reweighted_cross_entropy(logits, target, scale, poly_term(epsilon),
                                    per_sample=reduction == "none")


def poly_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 1.0,
              weight=None, reduction: str = "mean") -> torch.Tensor:
    r"""Poly-1: cross-entropy plus ε times the first polynomial term.

    .. math:: \ell_i = -\log p_{t_i} + \varepsilon\,(1 - p_{t_i})

    Reference: Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
    Functions", ICLR 2022. ``epsilon`` ≥ −1 (below −1 the loss would decrease as p_t falls);
    default 1; 0 is cross-entropy. Args: logits ``(N, C)``, target ``(N,)``,
    weight: optional per-class weights (PyTorch's weighted-mean convention,
    :math:`\sum w_{t_i}\ell_i/\sum w_{t_i}`). reduction: ``"mean"`` (default), ``"sum"``
    (:math:`\sum_i w_{t_i}\ell_i`) or ``"none"`` (the ``(N,)`` vector :math:`w_{t_i}\ell_i`).
    Returns a scalar, or ``(N,)`` for ``"none"``.
    """
    check_inputs(logits, target)
    epsilon = INFO.check("epsilon", epsilon)
    reduction = check_reduction(reduction)
    return _poly(logits, target, epsilon, class_vector(weight, logits.shape[1], "weight"),
                 reduction)


@implements("poly")
class PolyLoss(LossModule):
    """Module form of :func:`poly_loss`."""

    def __init__(self, num_classes: int, *, epsilon: float = 1.0, weight=None,
                 reduction: str = "mean") -> None:
        super().__init__(num_classes, weight, reduction)
        self.epsilon = INFO.check("epsilon", epsilon)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        return _poly(logits, target, self.epsilon, self.cast("weight", logits), self.reduction)

    def extra_repr(self) -> str:
        return self.describe(f"epsilon={self.epsilon:g}")
