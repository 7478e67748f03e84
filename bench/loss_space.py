"""The runner's view of the loss registry: names, fixed parameters and Optuna search spaces.

Everything the runner needs from ``lossbench.losses`` goes through here, so the tuning code sees
one small surface: ``resolve_losses``, ``check_fixed_params``, ``tuned_space`` and ``suggest``.
"""

from __future__ import annotations

from typing import Any

from lossbench.errors import UserError
from lossbench.validate import unknown_name

SHARED_PARAMS = ("lr", "weight_decay")
"""Parameters every loss tunes; a loss parameter may not reuse these names."""


def available() -> list[str]:
    """The registered loss names."""
    from lossbench.losses import available_losses

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
            raise unknown_name("loss in losses:", name, names)
    if len(set(value)) != len(value):
        raise UserError(f"losses lists a name twice: {value!r}")
    return list(value)


def info(name: str) -> Any:
    """``loss_info(name)`` from the registry."""
    from lossbench.losses import loss_info

    return loss_info(name)


def check_fixed_params(name: str, fixed: dict) -> None:
    """Refuse a fixed parameter that loss ``name`` does not take."""
    params = dict(info(name).params)
    for key in fixed:
        if key not in params:
            raise unknown_name(f"parameter in loss_params.{name}:", key, params)


def tuned_space(name: str, fixed: dict) -> dict[str, Any]:
    """The loss's declared search space without the parameters the suite fixes."""
    space = {k: v for k, v in dict(info(name).search_space).items() if k not in fixed}
    clash = set(space) & set(SHARED_PARAMS)
    if clash:
        raise UserError(f"loss {name!r} declares parameters {sorted(clash)} that clash with the "
                        f"shared ones {list(SHARED_PARAMS)}")
    return space


def suggest(trial: Any, name: str, spec: Any) -> Any:
    """Ask an Optuna trial for parameter ``name`` following a registry search-space spec."""
    kind = spec.kind
    if kind == "float":
        return trial.suggest_float(name, spec.low, spec.high, log=bool(spec.log))
    if kind == "int":
        return trial.suggest_int(name, int(spec.low), int(spec.high), log=bool(spec.log))
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec.choices))
    raise ValueError(f"search space of {name!r} has kind {kind!r}; expected float, int or "
                     "categorical")


def build(name: str, num_classes: int, class_counts: list[int], params: dict) -> Any:
    """The loss module ``name`` built with ``params`` (fixed and tuned)."""
    from lossbench.losses import build_loss

    return build_loss(name, num_classes=num_classes, class_counts=list(class_counts), **params)


def description(name: str) -> dict:
    """Name, description and reference of a loss, for the report."""
    loss = info(name)
    return {"name": name, "description": getattr(loss, "description", ""),
            "reference": getattr(loss, "reference", "")}
