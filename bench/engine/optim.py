"""Optimisers and learning-rate schedules (stepped once per batch)."""

from __future__ import annotations

import math

import torch
from lossbench.config.schema import OptimConfig
from torch import nn


def make_optimizer(model: nn.Module, config: OptimConfig, lr: float,
                   weight_decay: float) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum, or AdamW; weight decay on weights, not on biases or norms."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum,
                               nesterov=config.nesterov and config.momentum > 0, foreach=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, foreach=True)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; allowed: sgd, adamw")


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


def make_schedule(optimizer: torch.optim.Optimizer, config: OptimConfig, epochs: int,
                  steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-batch schedule over ``epochs`` × ``steps_per_epoch`` steps."""
    total = epochs * steps_per_epoch
    warmup = min(config.warmup_epochs, max(0, epochs - 1)) * steps_per_epoch
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, config))
