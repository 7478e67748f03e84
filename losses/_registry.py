"""The loss registry: one place that knows every loss, its parameters and its search space.

Torch-free: what a loss is (description, reference, parameters with their defaults and allowed
values, search space, whether it needs class counts, its reductions) is declared in
``_catalog.py`` and read from here without importing any loss code, so ``lossbench losses``
and a suite's checks answer at once. A loss's implementation (its module, function and plain
formulation) is named by module and attribute and imported on first use: ``build_loss``,
``LossInfo.module``, ``.function`` and ``.plain``.

The implementation module marks its ``nn.Module`` with :func:`implements`, which refuses a module
whose keyword parameters (names, order, defaults) or reductions differ from the declaration, so
the two cannot drift apart.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lossbench.errors import close_matches

from ._values import REDUCTIONS, InRange, OneOf

if TYPE_CHECKING:
    from torch import nn

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
    ``bounds`` the allowed values of its scalar parameters (per-class vectors such as ``weight``
    are checked against the number of classes when the loss is built); ``reductions`` the values
    its ``reduction`` argument allows ("mean" first, the default), which is not a parameter:
    ``build_loss(name, C, reduction="sum")``.

    ``module`` (the ``nn.Module`` class), ``function`` (the plain function form) and ``plain``
    (the reference formulation) import the loss's code, and torch, on first use.
    """

    name: str
    description: str
    reference: str
    implementation: str
    """The submodule of ``lossbench.losses`` holding the loss's code (e.g. "focal")."""
    class_name: str
    function_name: str
    plain_name: str
    """The function's name in ``lossbench.losses.plain``."""
    needs_class_counts: bool
    params: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, SearchParam] = field(default_factory=dict)
    reductions: tuple[str, ...] = REDUCTIONS
    bounds: dict[str, InRange | OneOf] = field(default_factory=dict)

    @property
    def module(self) -> type[nn.Module]:
        return getattr(_submodule(self.implementation), self.class_name)

    @property
    def function(self) -> Callable:
        return getattr(_submodule(self.implementation), self.function_name)

    @property
    def plain(self) -> Callable:
        return getattr(_submodule("plain"), self.plain_name)

    def check(self, param: str, value: Any) -> Any:
        """``value`` checked against ``bounds[param]`` (as float for a number), else as given;
        a value outside raises ValueError naming it and the allowed ones."""
        bound = self.bounds.get(param)
        return value if bound is None else bound(param, value)


def _submodule(name: str):
    return importlib.import_module(f"{__package__}.{name}")


_REGISTRY: dict[str, LossInfo] = {}


def register(
    name: str,
    *,
    module: str,
    function: str,
    plain: str,
    description: str,
    reference: str,
    params: dict[str, Any],
    search_space: dict[str, SearchParam],
    bounds: dict[str, InRange | OneOf] | None = None,
    needs_class_counts: bool = False,
    reductions: tuple[str, ...] = REDUCTIONS,
) -> LossInfo:
    """Declare a loss: ``module`` is "submodule.ClassName" (in ``lossbench.losses``), ``function``
    the function form's name in that submodule, ``plain`` the name in ``lossbench.losses.plain``.

    Duplicate names, a search space or bounds naming no parameter, and "reduction" declared as
    a parameter are refused.
    """
    if name in _REGISTRY:
        raise ValueError(f"a loss named {name!r} is already registered")
    for what, keys in (("search space", search_space), ("bounds", bounds or {})):
        unknown = set(keys) - set(params)
        if unknown:
            raise ValueError(f"{what} of {name!r} names unknown params {sorted(unknown)}")
    if set(params) & set(_NOT_PARAMS):
        raise ValueError(f"params of {name!r} name {sorted(set(params) & set(_NOT_PARAMS))}, "
                         "which are arguments of every loss, not parameters")
    if not reductions or reductions[0] != "mean" or not set(reductions) <= set(REDUCTIONS):
        raise ValueError(f"reductions of {name!r} must start with 'mean' and be among "
                         f"{REDUCTIONS}; got {reductions!r}")
    submodule, class_name = module.rsplit(".", 1)
    info = LossInfo(name, description, reference, submodule, class_name, function, plain,
                    needs_class_counts, dict(params), dict(search_space),
                    tuple(reductions), dict(bounds or {}))
    _REGISTRY[name] = info
    return info


def module_params(module: type) -> dict[str, Any]:
    """The loss parameters of a module class, read from its ``__init__``: keyword-only
    arguments other than ``reduction``, in order, with their defaults."""
    signature = inspect.signature(module.__init__)
    return {key: p.default for key, p in signature.parameters.items()
            if key not in _NOT_PARAMS and p.kind == p.KEYWORD_ONLY}


def implements(name: str) -> Callable[[type], type]:
    """Class decorator of a loss module: it implements the registered loss ``name``.

    Refuses (ValueError, at import) a module whose class name, keyword parameters (names, order
    and defaults), ``reduction`` argument or ``reductions`` differ from the registry's entry.
    """
    info = loss_info(name)

    def add(module: type) -> type:
        problems = []
        if module.__name__ != info.class_name:
            problems.append(f"it is registered as class {info.class_name!r}")
        if "reduction" not in inspect.signature(module.__init__).parameters:
            problems.append("it takes no 'reduction' argument")
        declared = module_params(module)
        if list(declared.items()) != list(info.params.items()):
            problems.append(f"its parameters {declared} differ from the registry's "
                            f"{info.params}")
        if tuple(module.reductions) != info.reductions:
            problems.append(f"its reductions {tuple(module.reductions)} differ from the "
                            f"registry's {info.reductions}")
        if problems:
            raise ValueError(f"loss module {module.__name__} of {name!r}: " + "; ".join(problems))
        module.loss_name = name
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


def check_param_names(name: str, params) -> LossInfo:
    """The entry of loss ``name``, after refusing a parameter it does not take (ValueError)."""
    info = loss_info(name)
    unknown = sorted(set(params) - set(info.params))
    if unknown:
        allowed = ", ".join(info.params) or "none"
        raise ValueError(
            f"loss {name!r} has no parameter {unknown[0]!r}; its parameters are: {allowed}"
        )
    return info


def build_loss(name: str, num_classes: int, class_counts=None, *, reduction: str = "mean",
               **params: Any) -> nn.Module:
    """Build the loss module ``name`` for ``num_classes`` classes.

    ``class_counts`` (training count per class) is required by the losses whose ``loss_info``
    says ``needs_class_counts`` and accepted (ignored) by the others; ``params`` are the loss's
    own parameters (see ``loss_info(name).params``). ``reduction`` is "mean" (the default),
    "sum" or "none" (per-sample losses, shape (N,)) where ``loss_info(name).reductions``
    allows it; any other value raises ValueError naming the allowed ones.
    """
    info = check_param_names(name, params)
    if info.needs_class_counts:
        params["class_counts"] = class_counts
    return info.module(num_classes=num_classes, reduction=reduction, **params)
