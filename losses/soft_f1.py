"""Soft-F1 loss: one minus the batch's macro F1 computed from softmax probabilities."""

from __future__ import annotations

import torch

from . import plain
from ._base import LossModule, like, loss_entry
from ._checks import check_inputs, check_range, class_vector
from ._fused import SoftF1Loss
from ._registry import register_loss


@loss_entry
def _soft_f1(logits, target, epsilon: float, clamp: bool, weight):
    return SoftF1Loss.apply(logits, target, epsilon, bool(clamp), like(weight, logits))


def soft_f1_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 1e-7,
                 clamp: bool = False, weight=None) -> torch.Tensor:
    r"""Soft macro-F1 loss on the batch.

    With p = softmax(z) and y the one-hot targets, per class c:
    :math:`TP_c=\sum_i y_{ic}p_{ic}`, :math:`FP_c=\sum_i (1-y_{ic})p_{ic}`,
    :math:`FN_c=\sum_i y_{ic}(1-p_{ic})`,
    :math:`P_c=TP_c/(TP_c+FP_c+\varepsilon)`, :math:`R_c=TP_c/(TP_c+FN_c+\varepsilon)`,
    :math:`F1_c=2P_cR_c/(P_c+R_c+\varepsilon)`, and the loss is :math:`1-\frac1C\sum_c F1_c`
    (a weighted mean over classes with ``weight``).

    ``clamp=True`` clamps F1 to :math:`[\varepsilon, 1-\varepsilon]` as the widely copied version
    (the mask competition's baseline ``F1Loss``) does; the clamp zeroes the gradient whenever F1
    saturates, which can freeze training, so it is off by default. Classes absent from the batch
    contribute F1 = 0 and no gradient. Reference: the soft-F1 surrogate of Jansche, "Maximum
    Expected F-Measure Training of Logistic Regression Models", HLT 2005.
    Args: logits ``(N, C)``, target ``(N,)``, epsilon > 0 (default 1e-7), clamp (default False).
    """
    check_inputs(logits, target)
    epsilon = check_range("epsilon", epsilon, 0.0, 1.0, low_open=True)
    return _soft_f1(logits, target, epsilon, clamp, class_vector(weight, logits.shape[1], "weight"))


@register_loss(
    "soft_f1",
    description="1 - soft macro-F1 of the batch (no clamp by default)",
    reference="Jansche, Maximum Expected F-Measure Training, HLT 2005; the mask competition's "
    "F1Loss (clamp=True)",
    function=soft_f1_loss,
    plain=plain.soft_f1,
    search_space={},
)
class SoftF1LossModule(LossModule):
    """Module form of :func:`soft_f1_loss`."""

    def __init__(self, num_classes: int, *, epsilon: float = 1e-7, clamp: bool = False,
                 weight=None) -> None:
        super().__init__(num_classes, weight)
        self.epsilon = check_range("epsilon", epsilon, 0.0, 1.0, low_open=True)
        self.clamp = bool(clamp)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_columns(logits)
        return _soft_f1(logits, target, self.epsilon, self.clamp, self.cast("weight", logits))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, epsilon={self.epsilon:g}, clamp={self.clamp}"
