"""LDAM loss with deferred re-weighting (Cao et al. 2019)."""

from __future__ import annotations

import torch

from ._base import LossModule, like, loss_entry
from ._checks import (
    check_inputs,
    check_reduction,
    class_counts_vector,
    class_vector,
)
from ._fused import ATEN_REDUCTION, ScaledMarginCrossEntropy
from ._registry import implements, loss_info
from .class_balanced import effective_number_weights

INFO = loss_info("ldam")


def ldam_margins(class_counts: torch.Tensor, max_margin: float) -> torch.Tensor:
    """m_c ∝ n_c^(−1/4), scaled so the largest margin is ``max_margin``."""
    margins = class_counts.double().pow(-0.25)
    return margins * (max_margin / margins.max())


@loss_entry
def _ldam(logits, target, margin_shift, scale: float, weight, reduction: str):
    """Native cross-entropy of s·z with −s·m_{tᵢ} added to each true-class logit."""
    target_shift = like(margin_shift, logits).index_select(0, target)
    return ScaledMarginCrossEntropy.apply(logits, target, target_shift, scale,
                                          like(weight, logits), ATEN_REDUCTION[reduction])


def ldam_loss(logits: torch.Tensor, target: torch.Tensor, class_counts, max_margin: float = 0.5,
              scale: float = 30.0, weight=None, reduction: str = "mean") -> torch.Tensor:
    r"""Label-distribution-aware margin loss.

    .. math:: m_c = \frac{K}{n_c^{1/4}}\ \text{with}\ \max_c m_c = \text{max\_margin},\qquad
              \ell_i = -\log\frac{e^{s(z_{t_i}-m_{t_i})}}
                       {e^{s(z_{t_i}-m_{t_i})}+\sum_{c\ne t_i}e^{s z_c}}

    Reference: Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
    Loss", NeurIPS 2019. Defaults max_margin 0.5, scale s = 30. ``weight``: per-class weights with
    PyTorch's weighted mean (the DRW stage of :class:`LDAMLoss` sets class-balanced weights).
    reduction: ``"mean"`` (default, :math:`\sum w_{t_i}\ell_i/\sum w_{t_i}`), ``"sum"``
    (:math:`\sum_i w_{t_i}\ell_i`) or ``"none"`` (the ``(N,)`` vector :math:`w_{t_i}\ell_i`).
    Args: logits ``(N, C)``, target ``(N,)``, class_counts ``(C,)``. Returns a scalar, or
    ``(N,)`` for ``"none"``.
    """
    check_inputs(logits, target)
    num_classes = logits.shape[1]
    counts = class_counts_vector(class_counts, num_classes, "ldam")
    max_margin = INFO.check("max_margin", max_margin)
    scale = INFO.check("scale", scale)
    reduction = check_reduction(reduction)
    return _ldam(logits, target, -scale * ldam_margins(counts, max_margin), scale,
                 class_vector(weight, num_classes, "weight"), reduction)


@implements("ldam")
class LDAMLoss(LossModule):
    """LDAM with deferred re-weighting (LDAM-DRW).

    From epoch ``round(drw_start · num_epochs)`` on (``on_epoch_start``, called by the trainer),
    the loss is weighted by class-balanced weights with ``drw_beta`` (Cao et al. use epoch 160 of
    200, i.e. ``drw_start = 0.8``, and β = 0.9999). ``drw_start = 1`` switches DRW off. Without the
    hook being called (outside the trainer) the loss is plain LDAM.
    """

    def __init__(self, num_classes: int, class_counts=None, *, max_margin: float = 0.5,
                 scale: float = 30.0, drw_start: float = 0.8, drw_beta: float = 0.9999,
                 weight=None, reduction: str = "mean") -> None:
        super().__init__(num_classes, weight, reduction)
        counts = class_counts_vector(class_counts, num_classes, "ldam")
        self.max_margin = INFO.check("max_margin", max_margin)
        self.scale = INFO.check("scale", scale)
        self.drw_start = INFO.check("drw_start", drw_start)
        self.drw_beta = INFO.check("drw_beta", drw_beta)
        self.register_buffer("margins", ldam_margins(counts, self.max_margin))
        self.register_buffer("margin_shift", -self.scale * self.margins)  # −s·m_c
        drw_weights = effective_number_weights(counts, self.drw_beta)
        if self.weight is not None:
            drw_weights = drw_weights * self.weight
        self.register_buffer("drw_weights", drw_weights)
        self.drw_active = False

    @property
    def probability_scale(self) -> float:
        """LDAM trains on s·z: its probabilities are softmax(s·z) (Cao et al.'s code scores the
        scaled logits too)."""
        return self.scale

    def on_epoch_start(self, epoch: int, num_epochs: int) -> None:
        self.drw_active = self.drw_start < 1.0 and epoch >= round(self.drw_start * num_epochs)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_call(logits, target)
        weight = self.cast("drw_weights" if self.drw_active else "weight", logits)
        return _ldam(logits, target, self.cast("margin_shift", logits), self.scale, weight,
                     self.reduction)

    def extra_repr(self) -> str:
        return self.describe(f"max_margin={self.max_margin:g}", f"scale={self.scale:g}",
                             f"drw_start={self.drw_start:g}", f"drw_active={self.drw_active}")
