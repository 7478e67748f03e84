"""The loss zoo: every loss as a typed function and a thin ``nn.Module``, in one registry.

>>> from lossbench.losses import build_loss, available_losses, loss_info
>>> loss = build_loss("focal", num_classes=10, gamma=2.0)
>>> available_losses()[:3]
['balanced_softmax', 'ce', 'class_balanced']
>>> per_sample = build_loss("focal", num_classes=10, reduction="none")  # (N,) losses

``reduction`` ("mean" default, "sum", "none") is taken by every loss, function and module;
soft-F1, a batch-level loss, allows "mean" only (``loss_info(name).reductions``).
"""

import importlib

# Torch-free: the registry and its entries. The losses' code (torch) is imported on first use:
# by ``build_loss``, by ``loss_info(name).module``/``.function``/``.plain``, and by the names
# below (``from lossbench.losses import focal_loss``), which ``__getattr__`` loads (PEP 562).
from . import _catalog  # noqa: F401  the registry's entries
from ._registry import LossInfo, SearchParam, available_losses, build_loss, loss_info

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


def _lazy_names() -> dict[str, str]:
    """Public name -> the submodule defining it, for the names that import torch."""
    names = {"LossModule": "_base", "plain": "plain"}
    for name in available_losses():
        info = loss_info(name)
        names[info.class_name] = names[info.function_name] = info.implementation
    return names


def __getattr__(name: str):
    where = _lazy_names().get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{where}")
    value = module if name == where else getattr(module, name)
    globals()[name] = value  # found at once from now on
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
