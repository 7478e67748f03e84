"""Class-balanced loss (Cui et al. 2019): effective-number weights on cross-entropy or focal."""

from __future__ import annotations

import torch

from ._base import LossModule, like, loss_entry, sample_scale
from ._checks import (
    check_inputs,
    check_reduction,
    class_counts_vector,
    class_vector,
)
from ._fused import cross_entropy_term, focal_term, reweighted_cross_entropy
from ._registry import implements, loss_info

INFO = loss_info("class_balanced")


def effective_number_weights(class_counts: torch.Tensor, beta: float) -> torch.Tensor:
    """w_c = (1−β)/(1−β^{n_c}), normalised to sum to C (β = 0 gives all ones)."""
    counts = class_counts.double()
    weights = (1.0 - beta) / (1.0 - torch.pow(beta, counts))
    return weights * (len(weights) / weights.sum())


@loss_entry
def _class_balanced(logits, target, class_weights, base: str, gamma: float, weight,
                    reduction: str):
    scale = like(class_weights, logits).index_select(0, target)
    scale = scale.mul_(sample_scale(target, weight, logits, reduction))
    term = focal_term(gamma) if base == "focal" else cross_entropy_term
    return reweighted_cross_entropy(logits, target, scale, term, per_sample=reduction == "none")


def class_balanced_loss(logits: torch.Tensor, target: torch.Tensor, class_counts,
                        beta: float = 0.9999, base: str = "focal", gamma: float = 1.0,
                        weight=None, reduction: str = "mean") -> torch.Tensor:
    r"""Class-balanced loss: a base loss re-weighted by the inverse effective number of samples.

    .. math:: w_c = \frac{1-\beta}{1-\beta^{n_c}}\ \text{normalised so}\ \sum_c w_c = C,\qquad
              L = \frac1N\sum_i w_{t_i}\,\ell^{base}_i

    ``base`` is ``"focal"`` (softmax focal with ``gamma``; the default, as the paper's best
    CIFAR-LT results are class-balanced focal) or ``"ce"``. The batch mean is over N, as in
    the paper's code (the weights, not their batch sum, set the scale). Defaults β = 0.9999,
    γ = 1.0 (the paper's choice for CIFAR-10-LT at ρ = 100).
    Reference: Cui et al., "Class-Balanced Loss Based on Effective Number of Samples",
    CVPR 2019. Args: logits ``(N, C)``, target ``(N,)``, class_counts ``(C,)`` training counts,
    beta in ``[0, 1)``, weight: optional extra per-class weights (weighted-mean convention:
    the mean is then :math:`\sum_i v_{t_i} w_{t_i}\ell_i / \sum_i v_{t_i}` with v the extra
    weights). ``reduction``: ``"mean"`` (default, as above), ``"sum"``
    (:math:`\sum_i v_{t_i} w_{t_i}\ell^{base}_i`) or ``"none"`` (that ``(N,)`` vector).
    Returns a scalar, or ``(N,)`` for ``"none"``.
    """
    check_inputs(logits, target)
    num_classes = logits.shape[1]
    counts = class_counts_vector(class_counts, num_classes, "class_balanced")
    beta = INFO.check("beta", beta)
    INFO.check("base", base)
    gamma = INFO.check("gamma", gamma)
    reduction = check_reduction(reduction)
    return _class_balanced(logits, target, effective_number_weights(counts, beta), base, gamma,
                           class_vector(weight, num_classes, "weight"), reduction)


@implements("class_balanced")
class ClassBalancedLoss(LossModule):
    """Module form of :func:`class_balanced_loss`; the class weights are a buffer."""

    def __init__(self, num_classes: int, class_counts=None, *, beta: float = 0.9999,
                 base: str = "focal", gamma: float = 1.0, weight=None,
                 reduction: str = "mean") -> None:
        super().__init__(num_classes, weight, reduction)
        counts = class_counts_vector(class_counts, num_classes, "class_balanced")
        self.beta = INFO.check("beta", beta)
        self.base = INFO.check("base", base)
        self.gamma = INFO.check("gamma", gamma)
        self.register_buffer("class_weights", effective_number_weights(counts, self.beta))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        return _class_balanced(logits, target, self.cast("class_weights", logits), self.base,
                               self.gamma, self.cast("weight", logits), self.reduction)

    def extra_repr(self) -> str:
        return self.describe(f"beta={self.beta:g}", f"base={self.base}", f"gamma={self.gamma:g}")
