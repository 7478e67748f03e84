"""The loss registry: one place that knows every loss, its parameters and its search space."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lossbench.errors import close_matches
from torch import nn

from ._checks import REDUCTIONS

# Arguments of a loss module that are not its own parameters: what it is built for
# (num_classes, class_counts) and how the batch is reduced, none of them tuned.
_NOT_PARAMS = ("self", "num_classes", "class_counts", "reduction")


@dataclass(frozen=True)
class SearchParam:
    """How Optuna samples one parameter: ``kind`` is "float", "int" or "categorical"."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        scale = " log" if self.log else ""
        return f"[{self.low:g}, {self.high:g}]{scale}"


def uniform(low: float, high: float, *, log: bool = False) -> SearchParam:
    return SearchParam("float", low, high, log)


def choice(*choices: Any) -> SearchParam:
    return SearchParam("categorical", choices=tuple(choices))


@dataclass(frozen=True)
class LossInfo:
    """What the registry knows of one loss (``loss_info(name)``).

    ``params`` are the loss's own parameters with their defaults (what a suite may fix or tune);
    ``reductions`` the values its ``reduction`` argument allows ("mean" first, the default),
    which is not a parameter: ``build_loss(name, C, reduction="sum")``.
    """

    name: str
    description: str
    reference: str
    module: type[nn.Module]
    function: Callable
    plain: Callable
    needs_class_counts: bool
    params: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, SearchParam] = field(default_factory=dict)
    reductions: tuple[str, ...] = REDUCTIONS


_REGISTRY: dict[str, LossInfo] = {}


def register_loss(
    name: str,
    *,
    description: str,
    reference: str,
    function: Callable,
    plain: Callable,
    search_space: dict[str, SearchParam],
    needs_class_counts: bool = False,
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator adding a loss module to the registry; duplicate names are refused."""

    def add(module: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"a loss named {name!r} is already registered")
        signature = inspect.signature(module.__init__)
        if "reduction" not in signature.parameters:
            raise ValueError(f"loss module of {name!r} takes no 'reduction' argument")
        params = {
            key: p.default
            for key, p in signature.parameters.items()
            if key not in _NOT_PARAMS and p.kind == p.KEYWORD_ONLY
        }
        unknown = set(search_space) - set(params)
        if unknown:
            raise ValueError(f"search space of {name!r} names unknown params {sorted(unknown)}")
        module.loss_name = name
        _REGISTRY[name] = LossInfo(name, description, reference, module, function, plain,
                                   needs_class_counts, params, dict(search_space),
                                   tuple(module.reductions))
        return module

    return add


def _unknown(kind: str, name: str, allowed: list[str]) -> ValueError:
    near = close_matches(name, allowed)
    hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
    return ValueError(f"unknown {kind} {name!r}.{hint} Available: {', '.join(allowed)}")


def available_losses() -> list[str]:
    """Sorted names of every registered loss."""
    return sorted(_REGISTRY)


def loss_info(name: str) -> LossInfo:
    """The registry entry of ``name``; an unknown name raises ValueError with the nearest names."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name (a TOML list) is a miss too
        raise _unknown("loss", name, available_losses()) from None


def build_loss(name: str, num_classes: int, class_counts=None, *, reduction: str = "mean",
               **params: Any) -> nn.Module:
    """Build the loss module ``name`` for ``num_classes`` classes.

    ``class_counts`` (training count per class) is required by the losses whose ``loss_info``
    says ``needs_class_counts`` and accepted (ignored) by the others; ``params`` are the loss's
    own parameters (see ``loss_info(name).params``). ``reduction`` is "mean" (the default),
    "sum" or "none" (per-sample losses, shape (N,)) where ``loss_info(name).reductions``
    allows it; any other value raises ValueError naming the allowed ones.
    """
    info = loss_info(name)
    unknown = sorted(set(params) - set(info.params))
    if unknown:
        allowed = ", ".join(info.params) or "none"
        raise ValueError(
            f"loss {name!r} has no parameter {unknown[0]!r}; its parameters are: {allowed}"
        )
    if info.needs_class_counts:
        params["class_counts"] = class_counts
    return info.module(num_classes=num_classes, reduction=reduction, **params)
