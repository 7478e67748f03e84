"""The losses of a suite: names, fixed parameters and each loss's declared search space.

A suite names losses of the registry (``lossbench.losses``); this checks the names and the fixed
parameters (names, and the values of scalar ones) and gives the search space left to tune
(``tuning.space`` asks Optuna for it). Only the registry's torch-free part is read here, so a
suite is parsed, and a misspelt loss or parameter refused, without importing torch.
"""

from __future__ import annotations

from typing import Any

from lossbench.errors import UserError, nearest, unknown_name

BASELINES = ("ce+posthoc", "ce+balanced_sampling")
"""The protocol's baselines (rows of every table, never losses of the registry):
``ce+posthoc`` is each replicate's cross-entropy model with its logits shifted by −τ·log π, τ chosen
on validation (Menon et al. 2021; no training); ``ce+balanced_sampling`` is cross-entropy trained on
class-balanced batches, tuned with the same budget as every loss."""

SHARED_PARAMS = ("lr", "weight_decay")
"""Parameters every loss tunes; a loss parameter may not reuse these names."""


def available() -> list[str]:
    """The registered loss names."""
    from lossbench.losses import available_losses  # torch-free

    return list(available_losses())


def resolve_losses(value: Any) -> list[str]:
    """The loss names a suite asks for: ``"all"`` or a list of registered names (no repeats)."""
    names = available()
    if value == "all":  # cross-entropy, the baseline, first
        return sorted(names, key=lambda name: (name != "ce", name))
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UserError(f"losses must be \"all\" or a non-empty list of loss names, got {value!r}")
    for name in value:
        if name not in names:
            raise unknown_name("loss", name, names)
    if len(set(value)) != len(value):
        raise UserError(f"losses lists a name twice: {value!r}")
    return list(value)


def info(name: str) -> Any:
    """``loss_info(name)`` from the registry (its metadata is torch-free; only its ``module``,
    ``function`` and ``plain`` import the loss's code)."""
    from lossbench.losses import loss_info

    return loss_info(name)


def check_fixed_params(name: str, fixed: dict) -> None:
    """Refuse a fixed parameter that loss ``name`` does not take, or a value outside a scalar
    parameter's allowed ones (per-class vectors are checked when the loss is built, against the
    dataset's classes)."""
    loss = info(name)
    params = dict(loss.params)
    for key in fixed:
        if key not in params:
            raise UserError(f"unknown parameter {key!r} of loss {name!r} in "
                            f"[loss_params.{name}]{nearest(key, params)}; allowed: "
                            f"{', '.join(sorted(params)) or 'none'}")
    for key, value in fixed.items():
        try:
            loss.check(key, value)
        except ValueError as error:
            raise UserError(f"[loss_params.{name}] {error}") from None


def tuned_space(name: str, fixed: dict) -> dict[str, Any]:
    """The loss's declared search space without the parameters the suite fixes."""
    space = {k: v for k, v in dict(info(name).search_space).items() if k not in fixed}
    clash = set(space) & set(SHARED_PARAMS)
    if clash:
        raise UserError(f"loss {name!r} declares parameters {sorted(clash)} that clash with the "
                        f"shared ones {list(SHARED_PARAMS)}")
    return space


def description(name: str) -> dict:
    """Name, description and reference of a loss, for the report."""
    loss = info(name)
    return {"name": name, "description": getattr(loss, "description", ""),
            "reference": getattr(loss, "reference", "")}


def resolve_baselines(value: Any, losses: list[str]) -> list[str]:
    """The baselines a suite asks for: ``"all"`` (the default: both, when ``ce`` runs), ``[]``
    or a list of ``BASELINES``; both need cross-entropy among the losses."""
    if value == "all":
        return list(BASELINES) if "ce" in losses else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"baselines must be \"all\" or a list of {', '.join(BASELINES)}, "
                        f"got {value!r}")
    for name in value:
        if name not in BASELINES:
            raise unknown_name("baseline", name, BASELINES)
    if value and "ce" not in losses:
        raise UserError(f"baselines {value!r} need cross-entropy ('ce') among the losses")
    return [name for name in BASELINES if name in value]
