"""Shared cases for the loss tests: every registered loss, plus variants of its parameters."""

from __future__ import annotations

import inspect

import torch
from lossbench.datasets import long_tail_counts
from lossbench.losses import available_losses, build_loss, loss_info

NUM_CLASSES = 6
CLASS_COUNTS = [500, 120, 40, 9, 3, 1]  # long-tailed, down to a class of one
ALPHA = [0.25, 0.5, 1.0, 1.5, 2.0, 3.0]

EXTRA_VARIANTS = {
    "focal": [{"gamma": 0.5}, {"gamma": 2.0, "alpha": ALPHA}, {"gamma": 0.0}],
    "label_smoothing": [{"smoothing": 0.2, "spread": "others"}],
    "soft_f1": [{"clamp": True}],
    "class_balanced": [{"base": "ce", "beta": 0.99}, {"beta": 0.0, "gamma": 0.5}],
    "weighted_ce": [{"power": 0.5}],
    "ldam": [{"max_margin": 0.3, "scale": 10.0}],
    "logit_adjusted": [{"tau": 0.5}],
    "poly": [{"epsilon": -1.0}, {"epsilon": 2.5}],
}
WEIGHT = [1.0, 2.0, 0.5, 3.0, 1.0, 4.0]


def all_cases(with_weight: bool = True) -> list[tuple[str, dict]]:
    """(name, params) for every registered loss with defaults, its variants, and with weights."""
    cases = []
    for name in available_losses():
        cases.append((name, {}))
        cases.extend((name, params) for params in EXTRA_VARIANTS.get(name, []))
        if with_weight:
            cases.append((name, {"weight": WEIGHT}))
    return cases


def case_id(case) -> str:
    name, params = case
    return name + ("" if not params else "-" + "-".join(
        f"{k}={'vec' if isinstance(v, list) else v}" for k, v in params.items()))


def counts_args(name: str) -> list:
    return [CLASS_COUNTS] if loss_info(name).needs_class_counts else []


def function_params(name: str, params: dict) -> dict:
    """The subset of ``params`` the plain function form accepts."""
    accepted = inspect.signature(loss_info(name).function).parameters
    return {k: v for k, v in params.items() if k in accepted}


def call_function(name, logits, target, params):
    return loss_info(name).function(logits, target, *counts_args(name),
                                    **function_params(name, params))


def call_plain(name, logits, target, params):
    return loss_info(name).plain(logits, target, *counts_args(name),
                                 **function_params(name, params))


def make_module(name, params, num_classes=NUM_CLASSES, reduction="mean"):
    return build_loss(name, num_classes=num_classes, class_counts=CLASS_COUNTS,
                      reduction=reduction, **params)


def random_batch(n=64, num_classes=NUM_CLASSES, scale=3.0, dtype=torch.float64, seed=0,
                 device="cpu"):
    """Logits ~ N(0, scale²) and uniform targets, drawn on the CPU (the same on every device)."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, num_classes, generator=generator, dtype=dtype) * scale
    target = torch.randint(0, num_classes, (n,), generator=generator)
    return logits.to(device), target.to(device)


def per_sample_cases(cases) -> list[tuple[str, dict]]:
    """The cases whose loss has per-sample values (reductions "sum" and "none"; not soft_f1)."""
    return [case for case in cases if "none" in loss_info(case[0]).reductions]


def mean_weights(name: str, params: dict) -> torch.Tensor | None:
    """The per-class w of the loss's "mean" = Σ w_t ℓ_t / Σ w_t (None: the plain mean over N).

    ``weight`` where given; weighted_ce's own class weights n_c^−power (normalised to sum to C,
    as its docstring says) times ``weight``. Focal's alpha and the class-balanced weights are
    not here: their papers' mean is over N.
    """
    weight = params.get("weight")
    weight = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    if name != "weighted_ce":
        return weight
    counts = torch.tensor(CLASS_COUNTS, dtype=torch.float64)
    own = counts ** -params.get("power", 1.0)
    own = own / own.sum() * NUM_CLASSES
    return own if weight is None else own * weight


# The shapes ``lossbench timing`` times, and the class counts it builds the losses with
# (checked against lossbench.timing.measure by test_timed_shapes_are_the_timing_tables).
TIMED_SHAPES = ((256, 18), (1024, 100), (8192, 1000))


def timing_counts(num_classes: int) -> list[int]:
    """The ``exp`` profile, largest class 1000, imbalance ratio 100 (the profile contract)."""
    return list(long_tail_counts("exp", num_classes=num_classes, n_max=1000,
                                 imbalance_ratio=100))


def shape_label(shape) -> str:
    return f"{shape[0]}x{shape[1]}"
