"""Optimisers and learning-rate schedules (stepped once per batch).

``make_optimizer`` gives a ``Stepper``: SGD (momentum, Nesterov) or AdamW over two parameter
groups, whose ``step`` calls PyTorch's own functional updates (``torch.optim.sgd.sgd``,
``torch.optim.adam.adam`` with decoupled weight decay, both ``foreach``), the arithmetic of
``torch.optim.SGD.step`` and ``torch.optim.AdamW.step`` bit for bit (``tests/test_optim.py``), but
not the ``torch.optim.Optimizer`` around them: its constructor and every ``step`` import
``torch._dynamo`` (about 1.4 s the first time in a process, paid by every worker's first trial)
and wrap each step in profiler, hook and grad-mode bookkeeping, a few per cent of a small model's
step. ``make_schedule`` is ``torch.optim.lr_scheduler.LambdaLR``'s rule (rate = initial rate ×
factor of the step) on any object with ``param_groups``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from lossbench.config.schema import OptimConfig
from torch import nn
from torch.optim.adam import adam
from torch.optim.sgd import sgd

ADAMW_BETAS = (0.9, 0.999)
ADAMW_EPS = 1e-8
"""``torch.optim.AdamW``'s defaults, which lossbench uses."""


class Stepper:
    """SGD or AdamW (``kind``) over ``param_groups`` (dicts with ``params``, ``lr``,
    ``weight_decay`` and the kind's settings, as ``torch.optim`` keeps them)."""

    def __init__(self, kind: str, groups: list[dict]) -> None:
        self.kind, self.param_groups = kind, groups
        self.state: dict[torch.Tensor, dict] = {}

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                (self._sgd if self.kind == "sgd" else self._adamw)(group, params)

    def _sgd(self, group: dict, params: list[torch.Tensor]) -> None:
        momentum = group["momentum"]
        buffers = [self.state.get(p, {}).get("momentum_buffer") for p in params] \
            if momentum != 0 else []
        sgd(params, [p.grad for p in params], buffers, has_sparse_grad=False, foreach=True,
            weight_decay=group["weight_decay"], momentum=momentum,
            lr=group["lr"], dampening=group["dampening"], nesterov=group["nesterov"],
            maximize=False)
        for p, buffer in zip(params, buffers):  # created on the first step
            self.state.setdefault(p, {})["momentum_buffer"] = buffer

    def _adamw(self, group: dict, params: list[torch.Tensor]) -> None:
        for p in params:
            if p not in self.state:  # as torch.optim.Adam._init_group (the step on the CPU)
                self.state[p] = {
                    "step": torch.tensor(0.0, dtype=_scalar_dtype()),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        adam(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                              [s["exp_avg_sq"] for s in states], [],
                              [s["step"] for s in states], foreach=True, capturable=False,
                              differentiable=False, fused=None, has_complex=False,
                              decoupled_weight_decay=True, amsgrad=False, beta1=beta1,
                              beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                              eps=group["eps"], maximize=False)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def make_optimizer(model: nn.Module, config: OptimConfig, lr: float,
                   weight_decay: float) -> Stepper:
    """SGD with (Nesterov) momentum, or AdamW; weight decay on weights, not on biases or norms."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    if config.optimizer == "sgd":
        settings = {"momentum": config.momentum, "dampening": 0.0,
                    "nesterov": config.nesterov and config.momentum > 0}
    elif config.optimizer == "adamw":
        settings = {"betas": ADAMW_BETAS, "eps": ADAMW_EPS}
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; allowed: sgd, adamw")
    return Stepper(config.optimizer, [
        {"params": decay, "lr": lr, "weight_decay": weight_decay, **settings},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0, **settings}])


def lr_factor(step: int, total_steps: int, warmup_steps: int, config: OptimConfig) -> float:
    """Multiplier of the base rate at ``step``: linear warm-up, then cosine, step or constant."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if config.schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if config.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    if config.schedule == "step":
        passed = sum(1 for milestone in config.step_milestones if step >= milestone * total_steps)
        return config.step_gamma**passed
    raise ValueError(f"unknown schedule {config.schedule!r}; allowed: cosine, step, constant")


class Schedule:
    """``LambdaLR``'s rule: each group's rate is its initial rate × ``factor(step)``, set at
    construction for step 0 and by each ``step()`` for the next one."""

    def __init__(self, optimizer, factor: Callable[[int], float]) -> None:
        self.groups, self.factor, self.last_step = optimizer.param_groups, factor, 0
        for group in self.groups:
            group.setdefault("initial_lr", group["lr"])
        self._apply()

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def _apply(self) -> None:
        for group in self.groups:
            group["lr"] = group["initial_lr"] * self.factor(self.last_step)


def make_schedule(optimizer, config: OptimConfig, epochs: int, steps_per_epoch: int) -> Schedule:
    """A per-batch schedule over ``epochs`` × ``steps_per_epoch`` steps."""
    total = epochs * steps_per_epoch
    warmup = min(config.warmup_epochs, max(0, epochs - 1)) * steps_per_epoch
    return Schedule(optimizer, lambda step: lr_factor(step, total, warmup, config))
