"""Soft-F1 loss: one minus the batch's macro F1 computed from softmax probabilities."""

from __future__ import annotations

import torch

from ._base import LossModule, like, loss_entry
from ._checks import check_inputs, check_reduction, class_vector
from ._fused import SoftF1Function
from ._registry import implements, loss_info

INFO = loss_info("soft_f1")
# Soft-F1 is one value of the whole batch, not a sum of per-sample losses: "sum" and "none" have
# no meaning, so they are refused (loudly) rather than answered with the batch value.
REDUCTIONS = INFO.reductions  # ("mean",)
REDUCTION_NOTE = " (soft-F1 is one value for the whole batch, not a sum of per-sample losses)"


@loss_entry
def _soft_f1(logits, target, epsilon: float, clamp: bool, weight):
    return SoftF1Function.apply(logits, target, epsilon, bool(clamp), like(weight, logits))


def soft_f1_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 1e-7,
                 clamp: bool = False, weight=None, reduction: str = "mean") -> torch.Tensor:
    r"""Soft macro-F1 loss on the batch.

    With p = softmax(z) and y the one-hot targets, per class c:

    .. math:: TP_c=\sum_i y_{ic}p_{ic},\quad FP_c=\sum_i (1-y_{ic})p_{ic},\quad
              FN_c=\sum_i y_{ic}(1-p_{ic}),

              P_c=\frac{TP_c}{TP_c+FP_c+\varepsilon},\quad
              R_c=\frac{TP_c}{TP_c+FN_c+\varepsilon},\quad
              F1_c=\frac{2P_cR_c}{P_c+R_c+\varepsilon},\quad
              L = 1-\frac1C\sum_c F1_c

    (a weighted mean over classes with ``weight``).

    ``clamp=True`` clamps F1 to :math:`[\varepsilon, 1-\varepsilon]` as the widely copied version
    (the mask competition's baseline ``F1Loss``) does; the clamp zeroes the gradient whenever F1
    saturates, which can freeze training, so it is off by default. Classes absent from the batch
    contribute F1 = 0 and no gradient. Reference: the soft-F1 surrogate of Jansche, "Maximum
    Expected F-Measure Training of Logistic Regression Models", HLT 2005.

    Args: logits ``(N, C)``, target ``(N,)``, epsilon > 0 (default 1e-7), clamp (default False),
    weight: optional per-class weights ``(C,)`` of the mean over classes. ``reduction`` must be
    ``"mean"`` (the default): the loss is one value of the batch, so ``"sum"`` and ``"none"``
    raise ``ValueError`` (``loss_info("soft_f1").reductions == ("mean",)``).
    Returns a scalar.
    """
    check_inputs(logits, target)
    epsilon = INFO.check("epsilon", epsilon)
    check_reduction(reduction, REDUCTIONS, REDUCTION_NOTE)
    return _soft_f1(logits, target, epsilon, clamp, class_vector(weight, logits.shape[1], "weight"))


@implements("soft_f1")
class SoftF1Loss(LossModule):
    """Module form of :func:`soft_f1_loss`; ``reduction`` must be "mean" (a batch-level loss)."""

    reductions = REDUCTIONS
    reduction_note = REDUCTION_NOTE

    def __init__(self, num_classes: int, *, epsilon: float = 1e-7, clamp: bool = False,
                 weight=None, reduction: str = "mean") -> None:
        super().__init__(num_classes, weight, reduction)
        self.epsilon = INFO.check("epsilon", epsilon)
        self.clamp = bool(clamp)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        return _soft_f1(logits, target, self.epsilon, self.clamp, self.cast("weight", logits))

    def extra_repr(self) -> str:
        return self.describe(f"epsilon={self.epsilon:g}", f"clamp={self.clamp}")
