"""What the kernel timing times: one training step of a loss alone, at one shape.

A step is ``loss(logits, target)`` then the gradient with respect to the logits
(``torch.autograd.grad``), on float32 logits that require grad. Each shape has two reference
cases, ``torch.nn.functional.cross_entropy`` (the denominator of every ratio) and one copy of the
logits (a floor: one pass over the data), and each loss twice: the module ``build_loss`` makes
(what training runs) and its plain autograd formulation (``loss_info(name).plain``).
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


def make_batch(shape: tuple[int, int], device: torch.device, seed: int = 0):
    """Float32 logits uniform in [−1, 1] (a leaf that requires grad) and int64 targets.

    Cosine-like logits: LDAM expects normalised logits and multiplies them by s = 30; wider
    logits would push its probabilities below 1e-38, into the denormal range where x86 CPUs
    take microcode assists and every kernel (native cross-entropy of 30·z too) slows down.
    """
    generator = torch.Generator().manual_seed(seed)
    rows, classes = shape
    logits = (torch.rand(rows, classes, generator=generator) * 2.0 - 1.0).to(device)
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


def build_cases(shape: tuple[int, int], device: torch.device, names: Iterable[str],
                plain: bool = True, seed: int = 0) -> list[Case]:
    """The reference, the floor, and each loss (module, and its plain formulation) at ``shape``."""
    logits, target = make_batch(shape, device, seed)
    counts = long_tail_counts(shape[1])
    cases = [Case(REFERENCE, "reference", "", training_step(F.cross_entropy, logits, target)),
             Case(FLOOR, "floor", "", lambda: logits.detach().clone())]
    for name in names:
        module = build_loss(name, shape[1], class_counts=counts).to(device)
        cases.append(Case(name, "loss", name, training_step(module, logits, target)))
        if plain:
            cases.append(_plain_case(name, counts, logits, target))
    return cases


__all__ = ["DEFAULT_SHAPES", "FLOOR", "REFERENCE", "Case", "build_cases", "long_tail_counts",
           "make_batch", "shape_label", "training_step"]
