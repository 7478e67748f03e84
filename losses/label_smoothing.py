"""Label smoothing in both conventions, fused into one log-softmax pass."""

from __future__ import annotations

import torch

from ._base import LossModule, loss_entry, sample_scale
from ._checks import check_inputs, check_reduction, class_vector
from ._fused import SmoothedCrossEntropy
from ._registry import implements, loss_info

INFO = loss_info("label_smoothing")


def smoothing_coefficients(smoothing: float, spread: str, num_classes: int) -> tuple[float, float]:
    """(a, b) with ℓ = −a·log p_t − b·Σ_c log p_c for the chosen convention."""
    if spread == "all":
        return 1.0 - smoothing, smoothing / num_classes
    off = smoothing / (num_classes - 1)
    return 1.0 - smoothing - off, off


@loss_entry
def _label_smoothing(logits, target, smoothing: float, spread: str, weight, reduction: str):
    on_target, on_every = smoothing_coefficients(smoothing, spread, logits.shape[1])
    scale = sample_scale(target, weight, logits, reduction)
    return SmoothedCrossEntropy.apply(logits, target, scale, on_target, on_every,
                                      reduction == "none")


def label_smoothing_loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.1,
                         spread: str = "all", weight=None,
                         reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy against a smoothed target distribution q.

    .. math:: \ell_i = -\sum_c q_{ic}\log p_{ic}

    - ``spread="all"`` (default, PyTorch's ``label_smoothing``):
      :math:`q = (1-\varepsilon)\,\mathbb{1}[c=t] + \varepsilon/C`.
    - ``spread="others"`` (the common hand-written variant):
      :math:`q = 1-\varepsilon` on the true class, :math:`\varepsilon/(C-1)` on each other class.

    Reference: Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016;
    Müller et al., "When Does Label Smoothing Help?", NeurIPS 2019.

    Args: logits ``(N, C)``; target ``(N,)``; smoothing ε in ``[0, 1)`` (default 0.1);
    weight: optional per-class weights applied per sample by its true class,
    :math:`\sum w_{t_i}\ell_i/\sum w_{t_i}`. Unlike ``F.cross_entropy(weight=…,
    label_smoothing=…)``, which weights each class's smoothing term by that class's weight
    (pytorch issue 104776), a sample's whole loss gets its true class's weight.
    reduction: ``"mean"`` (default, as above), ``"sum"`` (:math:`\sum_i w_{t_i}\ell_i`) or
    ``"none"`` (the ``(N,)`` vector :math:`w_{t_i}\ell_i`). Returns a scalar, or ``(N,)``.
    """
    check_inputs(logits, target)
    smoothing = INFO.check("smoothing", smoothing)
    INFO.check("spread", spread)
    reduction = check_reduction(reduction)
    return _label_smoothing(logits, target, smoothing, spread,
                            class_vector(weight, logits.shape[1], "weight"), reduction)


@implements("label_smoothing")
class LabelSmoothingLoss(LossModule):
    """Module form of :func:`label_smoothing_loss`."""

    def __init__(self, num_classes: int, *, smoothing: float = 0.1, spread: str = "all",
                 weight=None, reduction: str = "mean") -> None:
        super().__init__(num_classes, weight, reduction)
        self.smoothing = INFO.check("smoothing", smoothing)
        self.spread = INFO.check("spread", spread)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        return _label_smoothing(logits, target, self.smoothing, self.spread,
                                self.cast("weight", logits), self.reduction)

    def extra_repr(self) -> str:
        return self.describe(f"smoothing={self.smoothing:g}", f"spread={self.spread}")
