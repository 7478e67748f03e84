"""Input checks and dtype handling shared by every loss.

Every check raises ``ValueError`` naming the received value and what is allowed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

# The torch-free checks (parameter values: ``_values``, declared per loss in ``_catalog``),
# here for the loss modules beside the tensor checks.
from ._values import REDUCTIONS, check_num_classes, check_reduction  # noqa: F401

Vector = Sequence[float] | torch.Tensor | None


def as_loss_dtype(logits: torch.Tensor) -> torch.Tensor:
    """Return the logits in the dtype the loss math runs in: float64 stays, anything else float32."""
    if logits.dtype in (torch.float32, torch.float64):
        return logits
    return logits.float()


# One call that answers "is autocast on for any device?" (~1 µs in a training step, where
# is_autocast_enabled(device_type) costs ~8 µs); private, so looked up with a fallback.
_any_autocast = getattr(torch._C, "_is_any_autocast_enabled", None)


def autocast_on(device: torch.device) -> bool:
    """Whether an autocast region is active for ``device``'s type."""
    if _any_autocast is not None and not _any_autocast():
        return False
    try:
        return torch.is_autocast_enabled(device.type)
    except (RuntimeError, TypeError):  # a device type autocast does not know: assume on
        return True


def full_precision(device: torch.device):
    """Context that switches autocast off, so loss math runs in float32 under bf16/fp16 autocast."""
    if device.type in ("cpu", "cuda", "mps", "xpu"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def check_inputs(logits: torch.Tensor, target: torch.Tensor,
                 num_classes: int | None = None) -> None:
    """Check shapes and the target range of a ``(N, C)`` logits / ``(N,)`` target pair.

    Called once per loss call, by its entry point (the public function or the module's
    ``forward``); the math behind it checks nothing again. ``num_classes`` (a module's) is
    checked against the logits' columns before the target range, so a wrong width is named.
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        # ValueError, not TypeError: the loss contract gives every bad input one exception type
        raise ValueError(  # noqa: TRY004
            f"logits and target must be torch tensors; got {type(logits).__name__} and "
            f"{type(target).__name__}"
        )
    if logits.dim() != 2:
        raise ValueError(
            f"logits must be 2-D with shape (N, C); got shape {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point tensor; got dtype {logits.dtype}")
    if target.dim() != 1:
        raise ValueError(f"target must be 1-D with shape (N,); got shape {tuple(target.shape)}")
    if target.shape[0] != logits.shape[0]:
        raise ValueError(
            f"logits and target must have the same length N; got {logits.shape[0]} logits rows "
            f"and {target.shape[0]} targets"
        )
    if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"target must hold integer class indices; got dtype {target.dtype}")
    if num_classes is not None:
        check_logit_columns(logits, num_classes)
    num_classes = logits.shape[1]
    if target.numel():
        low, high = torch.aminmax(target)
        low, high = int(low), int(high)
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"target holds class {bad}, outside the allowed range [0, {num_classes}) for "
                f"logits with C={num_classes} columns"
            )


def class_vector(
    values: Vector, num_classes: int, what: str, *, positive: bool = False
) -> torch.Tensor | None:
    """Per-class values as a float64 CPU tensor of length ``num_classes`` (None stays None).

    Kept in float64 so float64 references match exactly; cast to the logits' dtype at use.
    """
    if values is None:
        return None
    vector = torch.as_tensor(values, dtype=torch.float64).detach().flatten().cpu()
    if vector.numel() != num_classes:
        raise ValueError(
            f"{what} must have one value per class ({num_classes}); got {vector.numel()}"
        )
    if not torch.isfinite(vector).all():
        raise ValueError(f"{what} must be finite; got {vector.tolist()}")
    if positive and (vector <= 0).any():
        index = int((vector <= 0).nonzero()[0])
        raise ValueError(
            f"{what} must be positive for every class; class {index} has {vector[index].item():g}"
        )
    if (vector < 0).any():
        index = int((vector < 0).nonzero()[0])
        raise ValueError(f"{what} must be >= 0; class {index} has {vector[index].item():g}")
    return vector


def class_counts_vector(class_counts: Vector, num_classes: int, loss_name: str) -> torch.Tensor:
    """Check and return the training count of every class (all > 0) as float64."""
    if class_counts is None:
        raise ValueError(
            f"loss '{loss_name}' needs class_counts (the training count of each of the "
            f"{num_classes} classes); got None"
        )
    return class_vector(class_counts, num_classes, "class_counts", positive=True)


def check_logit_columns(logits: torch.Tensor, num_classes: int) -> None:
    if logits.dim() == 2 and logits.shape[1] != num_classes:
        raise ValueError(
            f"logits have {logits.shape[1]} columns but the loss was built for "
            f"num_classes={num_classes}"
        )
