"""Training one model with one loss: the loop shared by tuning trials and final runs.

Data lives on the device as tensors and is batched by index with ``randperm`` (no DataLoader).
On CUDA the forward pass runs under bf16 autocast with channels_last images; the loss is always
computed in float32. A loss with ``on_epoch_start(epoch, num_epochs)`` (deferred re-weighting) is
told each epoch. A non-finite loss stops training at once and is reported, never trained through.
Model selection uses the validation split only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from lossbench.config.plan import Recipe
from lossbench.engine.augment import flip_crop, random_flip
from lossbench.engine.data import TrainValData
from lossbench.engine.device import seed_everything
from lossbench.engine.models import build_model, with_cosine_head
from lossbench.engine.optim import make_optimizer, make_schedule
from lossbench.engine.score import macro_f1_fast
from lossbench.losses import build_loss
from torch import nn

EpochCallback = Callable[[int, float], None]
"""Called after each epoch with (epoch, validation macro-F1); may raise optuna.TrialPruned."""


@dataclass
class FitResult:
    """What training produced; ``model`` holds the selected epoch's weights."""

    model: nn.Module
    loss_fn: nn.Module | None = None
    """The loss trained with (evaluation reads its logit transform, e.g. LDAM's scale)."""
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float = float("nan")
    diverged: str | None = None
    seconds: float = 0.0

    @property
    def selected_score(self) -> float:
        """Validation macro-F1 of the model that was kept."""
        if self.best_epoch is None:
            return float("nan")
        return float(self.history[self.best_epoch]["val_macro_f1"])


def augment(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Random horizontal flips, and for ``flip_crop`` a random crop of the image padded by an eighth
    of its side (4 pixels at 32×32, the CIFAR recipe); batched on ``x``'s device."""
    if mode == "none" or x.ndim != 4:
        return x
    if mode == "flip_crop":
        return flip_crop(x, pad=max(1, x.shape[-1] // 8))
    return random_flip(x)


def _prepare_inputs(data: TrainValData, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    inputs = data.inputs(x.to(device, non_blocking=True))
    if device.type == "cuda" and inputs.ndim == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs


@torch.no_grad()
def predict_logits(model: nn.Module, data: TrainValData, x: torch.Tensor, device: torch.device,
                   batch_size: int) -> torch.Tensor:
    """Float32 logits (on the CPU) of ``model`` for raw inputs ``x``, in eval mode."""
    chunks = (_prepare_inputs(data, chunk, device) for chunk in torch.split(x, batch_size))
    return _logits(model, chunks, device, data.num_classes)


@torch.no_grad()
def _logits(model: nn.Module, chunks, device: torch.device, num_classes: int) -> torch.Tensor:
    """Float32 logits (on the CPU) of ``model`` for chunks of model inputs, in eval mode."""
    model.eval()
    outputs = []
    for inputs in chunks:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            outputs.append(model(inputs).float().cpu())
    return torch.cat(outputs) if outputs else torch.zeros(0, num_classes)


STANDARDISE_ONCE_BYTES = 1 << 30
"""A split whose float32 copy is at most this large is standardised once per training run, not
each batch (where augmentation changes no input of it): the same values, as the arithmetic is
elementwise, without an epoch's worth of conversions (on a small model, a tenth of its time)."""


class _Inputs:
    """The model inputs of a run's training batches and validation chunks."""

    def __init__(self, data: TrainValData, augment_mode: str, device: torch.device) -> None:
        self.data, self.mode, self.device = data, augment_mode, device
        self.train = self._once(data.train.x) if augment_mode == "none" or \
            data.train.x.ndim != 4 else None  # augment() changes no input: see ``augment``
        self.val = self._once(data.val.x)

    def _once(self, x: torch.Tensor) -> torch.Tensor | None:
        if x.numel() * 4 > STANDARDISE_ONCE_BYTES:
            return None
        return self.data.inputs(x.to(self.device, non_blocking=True))

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        if self.train is None:
            return _prepare_inputs(self.data, augment(self.data.train.x[index], self.mode),
                                   self.device)
        inputs = self.train[index]
        if self.device.type == "cuda" and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def val_chunks(self, batch_size: int):
        if self.val is None:
            return (_prepare_inputs(self.data, chunk, self.device)
                    for chunk in torch.split(self.data.val.x, batch_size))
        chunks = torch.split(self.val, batch_size)
        if self.device.type == "cuda" and self.val.ndim == 4:
            return (c.contiguous(memory_format=torch.channels_last) for c in chunks)
        return chunks


def balanced_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Row weights 1 / n_{y_i}: every class is equally likely to be drawn (class-balanced
    sampling, the re-sampling baseline of the long-tail literature)."""
    counts = torch.bincount(labels.cpu(), minlength=num_classes).double().clamp_min(1)
    return (1.0 / counts)[labels.cpu()]


def _batches(n: int, batch_size: int, device: torch.device,
             weights: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Shuffled index batches (with ``weights``: n rows drawn with replacement in proportion to
    them, the same number of steps an epoch); a last batch of one example is dropped (batch norm
    needs two)."""
    order = torch.randperm(n) if weights is None else torch.multinomial(weights, n, True)
    order = order.to(device)
    batches = list(torch.split(order, batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches.pop()
    return batches


def _model(recipe: Recipe, data: TrainValData, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """The recipe's model on ``device`` and its forward (compiled on CUDA when asked; the model
    keeps the weights, with state_dict names without a prefix)."""
    model = build_model(recipe.model, data.input_shape, data.num_classes, recipe.model_config)
    if recipe.loss in recipe.model_config.cosine_head:
        model = with_cosine_head(model)
    model = model.to(device)
    if device.type == "cuda" and len(data.input_shape) == 3:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if recipe.model_config.compile and device.type == "cuda" \
        else model
    return model, forward


DIVERGENCE_FACTOR = 1e4
"""A run has diverged when its running mean batch loss in an epoch exceeds this many times the
loss of its very first batch (at initialisation a loss sits near its chance value, e.g. log C for
cross-entropy; a learning rate far too large sends it to 1e17 and beyond while staying finite), or
when the loss or a weight is no longer finite. The trial is then pruned with the reason."""


def _epoch(forward, loss_fn, optimizer, schedule, data: TrainValData, inputs_of: _Inputs,
           batches: list, recipe: Recipe, epoch: int, device: torch.device,
           first: list[float]) -> tuple[torch.Tensor, str | None]:
    """One pass over ``batches``; returns the summed loss and, when the loss turned non-finite or
    grew past ``DIVERGENCE_FACTOR`` × the first batch's (``first``, set on the first call), why
    (the step is not taken: training stops there)."""
    check_every = 1 if device.type == "cpu" else 16  # a host sync costs more on a GPU
    total = torch.zeros((), device=device)
    cuda = device.type == "cuda"
    # the gradients dropped directly (what zero_grad(set_to_none=True) does, without the
    # optimizer's per-call wrapper and profiler range, ~80 µs a step on a CPU)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for step, index in enumerate(batches):
        inputs = inputs_of.batch(index)
        if cuda:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                logits = forward(inputs)
        else:  # no autocast context to build each step where it would be disabled anyway
            logits = forward(inputs)
        loss = loss_fn(logits.float(), data.train.y[index])
        total += loss.detach()
        if not first:
            first.append(abs(float(loss.detach())))
        if (step + 1) % check_every == 0 or step + 1 == len(batches):
            mean = float(total) / (step + 1)  # one host read serves both checks
            if not math.isfinite(mean):
                return total, (f"loss became {float(loss.detach()):.4g} at epoch {epoch}, "
                               f"step {step} (lr={recipe.lr:.3g})")
            if mean > DIVERGENCE_FACTOR * max(first[0], 1e-3):
                return total, (f"loss grew to {mean:.4g} at epoch {epoch}, "
                               f"step {step}, over {DIVERGENCE_FACTOR:g}x its first batch's "
                               f"{first[0]:.4g} (lr={recipe.lr:.3g})")
        for param in params:
            param.grad = None
        loss.backward()
        optimizer.step()
        schedule.step()
    return total, None


@torch.no_grad()
def _all_finite(params: list[torch.Tensor]) -> bool:
    """Whether every weight is finite: one max-|w| per tensor (NaN and inf carry through it, and
    it cannot overflow), in one foreach call and one host read."""
    return bool(torch.stack(torch._foreach_norm(params, float("inf"))).isfinite().all())


def train(data: TrainValData, recipe: Recipe, seed: int, device: torch.device,
          on_epoch: EpochCallback | None = None) -> FitResult:
    """Train ``recipe`` on ``data.train`` with ``seed``; select the epoch on ``data.val``."""
    started = time.perf_counter()
    seed_everything(seed)
    model, forward = _model(recipe, data, device)
    loss_fn = build_loss(recipe.loss, num_classes=data.num_classes,
                         class_counts=list(data.train_counts), **recipe.loss_params).to(device)
    epochs, budget = recipe.budget.epochs, recipe.budget
    steps_per_epoch = len(_batches(len(data.train), budget.batch_size, torch.device("cpu")))
    optimizer = make_optimizer(model, recipe.optim, recipe.lr, recipe.weight_decay)
    schedule = make_schedule(optimizer, recipe.optim, epochs, steps_per_epoch)
    epoch_hook = getattr(loss_fn, "on_epoch_start", None)
    row_weights = balanced_weights(data.train.y, data.num_classes) \
        if recipe.sampling == "balanced" else None
    result = FitResult(model=model, loss_fn=loss_fn)
    inputs_of = _Inputs(data, recipe.model_config.augment, device)
    params = list(model.parameters())
    best_state: dict | None = None
    first_loss: list[float] = []
    for epoch in range(epochs):
        if epoch_hook is not None:
            epoch_hook(epoch, epochs)
        model.train()
        batches = _batches(len(data.train), budget.batch_size, device, row_weights)
        total, result.diverged = _epoch(forward, loss_fn, optimizer, schedule, data, inputs_of,
                                        batches, recipe, epoch, device, first_loss)
        if not result.diverged and not _all_finite(params):
            result.diverged = f"a weight became non-finite in epoch {epoch} (lr={recipe.lr:.3g})"
        if result.diverged:
            break
        logits = _logits(forward, inputs_of.val_chunks(budget.eval_batch_size), device,
                         data.num_classes)
        score = macro_f1_fast(data.val.y, logits.argmax(1), data.num_classes)
        result.history.append({"epoch": epoch, "train_loss": float(total) / len(batches),
                               "val_macro_f1": score})
        if budget.select == "last" or result.best_epoch is None or score > result.best_score:
            result.best_epoch, result.best_score = epoch, score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epoch, score)
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - started
    return result
