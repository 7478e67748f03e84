"""What the kernel timing times: one training step of a loss alone, at one shape.

A step is ``loss(logits, target)`` then the gradient with respect to the logits
(``torch.autograd.grad``), on float32 logits that require grad. Each shape has two reference
cases, ``torch.nn.functional.cross_entropy`` (the denominator of every ratio) and one copy of the
logits (a floor: one pass over the data), and each loss twice: the module ``build_loss`` makes
(what training runs) and its plain autograd formulation (``loss_info(name).plain``).

A loss whose softmax sees other logits than z at a different cost (LDAM: s·z with s = 30, whose
spread decides whether ``exp`` underflows) has a third reference, native cross-entropy of the
logits it actually feeds (:data:`FED`), so its row says both what it costs over CE of z and over
CE of what it feeds. :data:`FEEDS` says for every loss which logits its softmax sees.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from lossbench.datasets import long_tail_counts as profile_counts
from lossbench.losses import build_loss, loss_info

DEFAULT_SHAPES: tuple[tuple[int, int], ...] = ((256, 18), (1024, 100), (8192, 1000))
REFERENCE = "native_ce"
FLOOR = "logits_copy"
# The logits the table draws: uniform in [−1, 1] (the default: cosine-like, what LDAM's cosine
# head gives it) or N(0, 1) (an ordinary linear head; with LDAM's s = 30 its s·z spreads past
# 87 and the CPU's exp underflows float32).
LOGITS = {"uniform": "uniform in [-1, 1]", "normal": "N(0, 1)"}
DEFAULT_LOGITS = "uniform"
# What each loss's softmax sees, z being the logits the table feeds (default: z itself).
FEEDS = {
    "ce": "z", "weighted_ce": "z", "focal": "z (native CE of z)", "poly": "z (native CE of z)",
    "class_balanced": "z (native CE of z)", "label_smoothing": "z (its own log-softmax)",
    "soft_f1": "z (its own softmax)",
    "logit_adjusted": "z + τ·log π (a per-class shift within ln 100 ≈ 4.6: the cost of z)",
    "balanced_softmax": "z + log π (the same shift)",
    "ldam": "s·z, s = 30, minus s·m on the true class (its own log-softmax)",
}
# Losses whose fed logits change the cost: name -> (short label, fed logits of z for the module).
FED: dict[str, tuple[str, Callable]] = {
    "ldam": ("s·z", lambda module, logits: logits * module.scale),
}
IMBALANCE_RATIO = 100.0
N_MAX = 1000
Step = Callable[[], object]


@dataclass(frozen=True)
class Case:
    """One timed thing: ``kind`` is "reference", "floor", "loss" or "plain"; ``loss`` its loss."""

    label: str
    kind: str
    loss: str
    step: Step


def shape_label(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def long_tail_counts(num_classes: int) -> list[int]:
    """The class counts losses are built with: the ``exp`` profile, largest 1000, ratio 100."""
    return profile_counts("exp", num_classes=num_classes, n_max=N_MAX,
                          imbalance_ratio=IMBALANCE_RATIO)


def make_batch(shape: tuple[int, int], device: torch.device, seed: int = 0,
               logits: str = DEFAULT_LOGITS):
    """Float32 logits (a leaf that requires grad) and int64 targets.

    ``logits``: "uniform" in [−1, 1] (cosine-like: LDAM expects normalised logits and
    multiplies them by s = 30, so z − max ≥ −60 and exp never underflows) or "normal", N(0, 1)
    (LDAM's s·z then spreads over ~190, its probabilities fall below 1e-38, and the CPU's exp,
    native cross-entropy of 30·z too, slows down where z − max underflows float32).
    """
    if logits not in LOGITS:
        raise ValueError(f"logits is one of {', '.join(LOGITS)}; got {logits!r}")
    generator = torch.Generator().manual_seed(seed)
    rows, classes = shape
    if logits == "normal":
        drawn = torch.randn(rows, classes, generator=generator)
    else:
        drawn = torch.rand(rows, classes, generator=generator) * 2.0 - 1.0
    logits = drawn.to(device)
    target = torch.randint(0, classes, (rows,), generator=generator).to(device)
    return logits.requires_grad_(), target


def training_step(loss_fn: Callable, logits: torch.Tensor, target: torch.Tensor) -> Step:
    """Forward and backward of ``loss_fn`` with respect to the logits, as training runs it."""

    def step():
        return torch.autograd.grad(loss_fn(logits, target), logits)

    return step


def _plain_case(name: str, counts: list[int], logits: torch.Tensor,
                target: torch.Tensor) -> Case:
    """The loss's plain autograd formulation at its default parameters."""
    info = loss_info(name)
    extra = [counts] if info.needs_class_counts else []
    accepted = set(inspect.signature(info.plain).parameters)
    params = {k: v for k, v in info.params.items() if k != "weight" and k in accepted}

    def plain_fn(x, t):
        return info.plain(x, t, *extra, **params)

    return Case(f"{name} (plain)", "plain", name, training_step(plain_fn, logits, target))


def fed_label(name: str) -> str:
    """The label of native cross-entropy of the logits loss ``name`` feeds."""
    return f"{REFERENCE} ({FED[name][0]}, {name})"


def _fed_case(name: str, module, logits: torch.Tensor, target: torch.Tensor) -> Case:
    """Native cross-entropy of the loss's fed logits, a leaf of their own (no scaling pass)."""
    fed = FED[name][1](module, logits.detach()).detach().requires_grad_()
    return Case(fed_label(name), "fed_reference", name,
                training_step(F.cross_entropy, fed, target))


def build_cases(shape: tuple[int, int], device: torch.device, names: Iterable[str],
                plain: bool = True, seed: int = 0, logits: str = DEFAULT_LOGITS) -> list[Case]:
    """The reference, the floor, and each loss (module, and its plain formulation) at ``shape``;
    for the losses in :data:`FED`, native cross-entropy of the logits they feed as well."""
    logits, target = make_batch(shape, device, seed, logits)
    counts = long_tail_counts(shape[1])
    cases = [Case(REFERENCE, "reference", "", training_step(F.cross_entropy, logits, target)),
             Case(FLOOR, "floor", "", lambda: logits.detach().clone())]
    for name in names:
        module = build_loss(name, shape[1], class_counts=counts).to(device)
        cases.append(Case(name, "loss", name, training_step(module, logits, target)))
        if plain:
            cases.append(_plain_case(name, counts, logits, target))
        if name in FED:
            cases.append(_fed_case(name, module, logits, target))
    return cases


__all__ = ["DEFAULT_LOGITS", "DEFAULT_SHAPES", "FED", "FEEDS", "FLOOR", "LOGITS", "REFERENCE",
           "Case", "build_cases", "fed_label", "long_tail_counts", "make_batch", "shape_label",
           "training_step"]
