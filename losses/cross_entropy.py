"""Cross-entropy and inverse-frequency weighted cross-entropy."""

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

INFO = loss_info("weighted_ce")


@loss_entry
def _cross_entropy(logits, target, weight, reduction: str):
    return F.cross_entropy(logits, target, weight=like(weight, logits), reduction=reduction)


def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor, weight=None,
                       reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy, PyTorch's native kernel.

    .. math:: \ell_i = -\log \mathrm{softmax}(z_i)_{t_i}

    Args:
        logits: ``(N, C)`` unnormalised scores. target: ``(N,)`` class indices in ``[0, C)``.
        weight: optional per-class weights ``(C,)``; the mean is then
            :math:`\sum_i w_{t_i}\ell_i / \sum_i w_{t_i}` (PyTorch's convention).
        reduction: ``"mean"`` (default, as above), ``"sum"`` (:math:`\sum_i w_{t_i}\ell_i`) or
            ``"none"`` (the ``(N,)`` vector :math:`w_{t_i}\ell_i`), as ``F.cross_entropy``.

    Returns a float32 scalar (float64 for float64 logits), or ``(N,)`` for ``"none"``.

    Example: predicted probabilities [0.2, 0.7, 0.1] for the true class 1 give -ln 0.7 = 0.357.

    >>> cross_entropy_loss(torch.tensor([[0.2, 0.7, 0.1]]).log(), torch.tensor([1]))
    tensor(0.3567)
    """
    check_inputs(logits, target)
    reduction = check_reduction(reduction)
    return _cross_entropy(logits, target, class_vector(weight, logits.shape[1], "weight"),
                          reduction)


def inverse_frequency_weights(class_counts: torch.Tensor, power: float) -> torch.Tensor:
    """w_c ∝ n_c^(−power), normalised to sum to C."""
    weights = class_counts.double().pow(-power)
    return weights * (len(weights) / weights.sum())


def weighted_ce_loss(logits: torch.Tensor, target: torch.Tensor, class_counts,
                     power: float = 1.0, weight=None, reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy weighted by inverse class frequency.

    .. math:: w_c \propto n_c^{-\text{power}},\quad
              L = \sum_i w_{t_i}\ell^{CE}_i \big/ \sum_i w_{t_i}

    ``power`` = 1 is inverse frequency, 0.5 its square root, 0 plain cross-entropy. Weights are
    normalised to sum to C (the weighted mean does not depend on their scale). An extra
    per-class ``weight`` multiplies them. Shapes and ``reduction`` as :func:`cross_entropy_loss`
    ("none" gives :math:`w_{t_i}\ell^{CE}_i`, "sum" their sum).
    Reference: the re-weighting baseline of Cui et al., "Class-Balanced Loss Based on Effective
    Number of Samples", CVPR 2019.
    """
    check_inputs(logits, target)
    counts = class_counts_vector(class_counts, logits.shape[-1], "weighted_ce")
    power = INFO.check("power", power)
    reduction = check_reduction(reduction)
    weights = inverse_frequency_weights(counts, power)
    if weight is not None:
        weights = weights * class_vector(weight, len(weights), "weight")
    return _cross_entropy(logits, target, weights, reduction)


@implements("ce")
class CrossEntropyLoss(LossModule):
    """Module form of :func:`cross_entropy_loss`."""

    def __init__(self, num_classes: int, *, weight=None, reduction: str = "mean") -> None:
        super().__init__(num_classes, weight, reduction)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        return _cross_entropy(logits, target, self.cast("weight", logits), self.reduction)


@implements("weighted_ce")
class WeightedCrossEntropyLoss(LossModule):
    """Module form of :func:`weighted_ce_loss`; the class weights are a buffer."""

    def __init__(self, num_classes: int, class_counts=None, *, power: float = 1.0,
                 weight=None, reduction: str = "mean") -> None:
        super().__init__(num_classes, weight, reduction)
        counts = class_counts_vector(class_counts, num_classes, "weighted_ce")
        self.power = INFO.check("power", power)
        weights = inverse_frequency_weights(counts, self.power)
        if self.weight is not None:
            weights = weights * self.weight
        self.register_buffer("class_weights", weights)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        return _cross_entropy(logits, target, self.cast("class_weights", logits), self.reduction)

    def extra_repr(self) -> str:
        return self.describe(f"power={self.power:g}")
