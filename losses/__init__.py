"""The loss zoo: every loss as a typed function and a thin ``nn.Module``, in one registry.

>>> from lossbench.losses import build_loss, available_losses, loss_info
>>> loss = build_loss("focal", num_classes=10, gamma=2.0)
>>> available_losses()[:3]
['balanced_softmax', 'ce', 'class_balanced']
>>> per_sample = build_loss("focal", num_classes=10, reduction="none")  # (N,) losses

``reduction`` ("mean" default, "sum", "none") is taken by every loss, function and module;
soft-F1, a batch-level loss, allows "mean" only (``loss_info(name).reductions``).
"""

from . import plain
from ._base import LossModule
from ._registry import LossInfo, SearchParam, available_losses, build_loss, loss_info
from .class_balanced import ClassBalancedLoss, class_balanced_loss
from .cross_entropy import (
                            CrossEntropyLoss,
                            WeightedCrossEntropyLoss,
                            cross_entropy_loss,
                            weighted_ce_loss,
)
from .focal import FocalLoss, focal_loss
from .label_smoothing import LabelSmoothingLoss, label_smoothing_loss
from .ldam import LDAMLoss, ldam_loss
from .poly import PolyLoss, poly_loss
from .prior_adjusted import (
                            BalancedSoftmaxLoss,
                            LogitAdjustedLoss,
                            balanced_softmax_loss,
                            logit_adjusted_loss,
)
from .soft_f1 import SoftF1Loss, soft_f1_loss

__all__ = [
                            "BalancedSoftmaxLoss",
                            "ClassBalancedLoss",
                            "CrossEntropyLoss",
                            "FocalLoss",
                            "LDAMLoss",
                            "LabelSmoothingLoss",
                            "LogitAdjustedLoss",
                            "LossInfo",
                            "LossModule",
                            "PolyLoss",
                            "SearchParam",
                            "SoftF1Loss",
                            "WeightedCrossEntropyLoss",
                            "available_losses",
                            "balanced_softmax_loss",
                            "build_loss",
                            "class_balanced_loss",
                            "cross_entropy_loss",
                            "focal_loss",
                            "label_smoothing_loss",
                            "ldam_loss",
                            "logit_adjusted_loss",
                            "loss_info",
                            "plain",
                            "poly_loss",
                            "soft_f1_loss",
                            "weighted_ce_loss",
]
