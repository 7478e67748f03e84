"""What every loss module and function shares: float32 math, reductions, weighted means.

Inputs are checked once per call, by the entry point: the public function (``focal_loss``) calls
``check_inputs`` before it checks its parameters; a module checks its parameters (``reduction``
included) once when built and its tensors in ``forward`` (:meth:`LossModule.check_call`). The
private math both call (wrapped by :func:`loss_entry`) checks nothing again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._checks import (
    REDUCTIONS,
    as_loss_dtype,
    autocast_on,
    check_inputs,
    check_num_classes,
    check_reduction,
    class_vector,
    full_precision,
)


def loss_entry(fn: Callable) -> Callable:
    """Wrap a loss's math: run it in float32 with autocast off, on int64 targets.

    float64 logits stay float64 (for ``gradcheck``); bf16/fp16 logits are upcast, so the value
    is float32 even inside a bf16 autocast region. The inputs were checked by the caller.
    """

    @functools.wraps(fn)
    def wrapper(logits: torch.Tensor, target: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if target.dtype != torch.int64:
            target = target.long()
        if autocast_on(logits.device):  # entering the context costs µs; most calls need not
            with full_precision(logits.device):
                return fn(as_loss_dtype(logits), target, *args, **kwargs)
        return fn(as_loss_dtype(logits), target, *args, **kwargs)

    return wrapper


def like(vector: torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor | None:
    """A per-class vector on the logits' device and dtype (None stays None)."""
    if vector is None or (vector.dtype == logits.dtype and vector.device == logits.device):
        return vector
    return vector.to(device=logits.device, dtype=logits.dtype)


def sample_scale(target: torch.Tensor, weight: torch.Tensor | None, logits: torch.Tensor,
                 reduction: str = "mean"):
    """Per-sample factor sᵢ of the reduction: the loss is Σᵢ sᵢ·ℓᵢ ("none": the vector sᵢ·ℓᵢ).

    "mean": w_{tᵢ}/Σⱼ w_{tⱼ} (PyTorch's weighted mean), or 1/N without ``weight``;
    "sum" and "none": w_{tᵢ}, or 1 without ``weight``. A float where it is the same for all.
    """
    if weight is None:
        return 1.0 / max(target.shape[0], 1) if reduction == "mean" else 1.0
    sample_weight = like(weight, logits).index_select(0, target)  # [target], 3× cheaper
    return sample_weight / sample_weight.sum() if reduction == "mean" else sample_weight


def weight_vector(weight, num_classes: int) -> torch.Tensor | None:
    """Check the optional per-class ``weight`` argument every loss accepts."""
    return class_vector(weight, num_classes, "weight")


class LossModule(nn.Module):
    """Base of the loss modules: stores ``num_classes``, ``reduction`` and the ``weight`` buffer.

    ``reductions`` lists the reductions a loss allows (all three unless a subclass says fewer;
    the registry shows it as ``loss_info(name).reductions``). ``on_epoch_start(epoch,
    num_epochs)`` is called by the trainer before every epoch; losses whose behaviour changes
    during training (LDAM's deferred re-weighting) override it.
    """

    loss_name: str = ""
    reductions: Sequence[str] = REDUCTIONS
    probability_scale: float = 1.0
    """The loss's own logit transform for probabilities at evaluation: softmax(probability_scale
    · z). 1 for losses that train on z itself; LDAM, which trains on s·z, declares s, so that its
    confidences (and ECE) are those of the model it trained."""
    reduction_note: str = ""  # why a loss allows fewer reductions, appended to the error

    def __init__(self, num_classes: int, weight=None, reduction: str = "mean") -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.reduction = check_reduction(reduction, self.reductions, self.reduction_note)
        self.register_buffer("weight", weight_vector(weight, num_classes))
        self._casts: dict = {}

    def cast(self, name: str, logits: torch.Tensor) -> torch.Tensor | None:
        """Buffer ``name`` in the loss's dtype (float64 for float64 logits, else float32) and the
        logits' device, converted once and then reused.

        Buffers stay float64 (float64 references match exactly); converting a (C,) vector on
        every call costs a few µs, a real share of a small batch's loss. The copy is rebuilt
        when the buffer is replaced (``.to``, a DRW switch) or changed in place (its version).
        """
        vector = self._buffers.get(name)  # not getattr: nn.Module's __getattr__ is slow
        if vector is None:
            return None
        dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32  # as_loss_dtype
        key = (name, dtype, logits.device)
        cached = self._casts.get(key)
        if cached is None or cached[0] is not vector or cached[1] != vector._version:
            cached = (vector, vector._version, vector.to(device=logits.device, dtype=dtype))
            self._casts[key] = cached
        return cached[2]

    def on_epoch_start(self, epoch: int, num_epochs: int) -> None:
        """Hook for schedules inside a loss; nothing by default."""

    def check_call(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """The one check of a ``forward`` call: tensors, shapes, width ``num_classes``, targets."""
        check_inputs(logits, target, self.num_classes)

    def describe(self, *settings: str) -> str:
        """``extra_repr`` text: num_classes, the loss's own settings, reduction if not "mean"."""
        parts = [f"num_classes={self.num_classes}", *settings]
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)

    def extra_repr(self) -> str:
        return self.describe()
