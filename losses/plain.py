"""Plain autograd formulations of every loss: the reference the fused versions are tested against.

Each is the obvious transcription of the paper's formula (softmax, one-hot, log), written
independently of the fused code, and differentiated by autograd. They compute in the dtype of
the logits (float64 in the tests) and are also what the timing table compares the fused
versions with. No input checks: they are references, not the public API. ``reduction`` follows
PyTorch: "none" is the vector w_{tᵢ}·ℓᵢ, "sum" its sum, "mean" its sum over Σ w_{tᵢ} (over N
without ``weight``); soft-F1 has no per-sample form and takes none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _vector(values, logits: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=logits.dtype, device=logits.device).flatten()


def _reduce(per_sample: torch.Tensor, target: torch.Tensor, weight, logits,
            reduction: str = "mean") -> torch.Tensor:
    weighted = per_sample if weight is None else _vector(weight, logits)[target] * per_sample
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if weight is None:
        return per_sample.mean()
    return weighted.sum() / _vector(weight, logits)[target].sum()


def _log_pt(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(logits, dim=1)
    one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    return torch.log((probs * one_hot).sum(dim=1))


def cross_entropy(logits, target, weight=None, reduction="mean"):
    return _reduce(-_log_pt(logits, target), target, weight, logits, reduction)


def weighted_ce(logits, target, class_counts, power=1.0, weight=None, reduction="mean"):
    counts = _vector(class_counts, logits)
    class_weight = counts ** (-power)
    class_weight = class_weight / class_weight.sum() * logits.shape[1]  # sum C: "sum", "none"
    if weight is not None:
        class_weight = class_weight * _vector(weight, logits)
    return cross_entropy(logits, target, weight=class_weight, reduction=reduction)


def focal(logits, target, gamma=2.0, alpha=None, weight=None, reduction="mean"):
    probs = torch.softmax(logits, dim=1)
    pt = probs.gather(1, target.unsqueeze(1)).squeeze(1)
    per_sample = -((1 - pt) ** gamma) * torch.log(pt)
    if alpha is not None:
        per_sample = _vector(alpha, logits)[target] * per_sample
    return _reduce(per_sample, target, weight, logits, reduction)


def label_smoothing(logits, target, smoothing=0.1, spread="all", weight=None, reduction="mean"):
    num_classes = logits.shape[1]
    one_hot = F.one_hot(target, num_classes).to(logits.dtype)
    if spread == "all":
        soft_target = one_hot * (1 - smoothing) + smoothing / num_classes
    else:
        soft_target = one_hot * (1 - smoothing) + (1 - one_hot) * smoothing / (num_classes - 1)
    log_probs = torch.log(torch.softmax(logits, dim=1))
    return _reduce(-(soft_target * log_probs).sum(dim=1), target, weight, logits, reduction)


def soft_f1(logits, target, epsilon=1e-7, clamp=False, weight=None):
    y_true = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    y_pred = torch.softmax(logits, dim=1)
    tp = (y_true * y_pred).sum(dim=0)
    fp = ((1 - y_true) * y_pred).sum(dim=0)
    fn = (y_true * (1 - y_pred)).sum(dim=0)
    precision = tp / (tp + fp + epsilon)
    recall = tp / (tp + fn + epsilon)
    f1 = 2 * (precision * recall) / (precision + recall + epsilon)
    if clamp:
        f1 = f1.clamp(min=epsilon, max=1 - epsilon)
    if weight is None:
        return 1 - f1.mean()
    class_weight = _vector(weight, logits)
    return 1 - (f1 * class_weight).sum() / class_weight.sum()


def class_balanced(logits, target, class_counts, beta=0.9999, base="focal", gamma=1.0,
                   weight=None, reduction="mean"):
    counts = _vector(class_counts, logits)
    effective_number = 1.0 - beta ** counts
    class_weight = (1.0 - beta) / effective_number
    class_weight = class_weight / class_weight.sum() * logits.shape[1]
    probs = torch.softmax(logits, dim=1)
    pt = probs.gather(1, target.unsqueeze(1)).squeeze(1)
    per_sample = -torch.log(pt)
    if base == "focal":
        per_sample = (1 - pt) ** gamma * per_sample
    per_sample = class_weight[target] * per_sample
    return _reduce(per_sample, target, weight, logits, reduction)


def ldam(logits, target, class_counts, max_margin=0.5, scale=30.0, weight=None,
         reduction="mean"):
    counts = _vector(class_counts, logits)
    margins = 1.0 / torch.sqrt(torch.sqrt(counts))
    margins = margins * (max_margin / margins.max())
    one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    output = logits - one_hot * margins[target].unsqueeze(1)
    return cross_entropy(scale * output, target, weight=weight, reduction=reduction)


def logit_adjusted(logits, target, class_counts, tau=1.0, weight=None, reduction="mean"):
    counts = _vector(class_counts, logits)
    prior = counts / counts.sum()
    return cross_entropy(logits + tau * torch.log(prior), target, weight=weight,
                         reduction=reduction)


def balanced_softmax(logits, target, class_counts, weight=None, reduction="mean"):
    return logit_adjusted(logits, target, class_counts, tau=1.0, weight=weight,
                          reduction=reduction)


def poly(logits, target, epsilon=1.0, weight=None, reduction="mean"):
    probs = torch.softmax(logits, dim=1)
    pt = probs.gather(1, target.unsqueeze(1)).squeeze(1)
    return _reduce(-torch.log(pt) + epsilon * (1 - pt), target, weight, logits, reduction)
