"""The registry is torch-free and says what the code does: one declaration a loss (``_catalog``).

``lossbench.losses`` answers ``available_losses()`` and ``loss_info(name)`` (description,
reference, parameters with defaults and allowed values, search space, class counts, reductions)
without importing torch; the loss's code loads on first use. These tests hold the declarations
to the code: each module's ``__init__`` and each function take the declared parameters with the
declared defaults, and the declared allowed values are the ones the module and function refuse.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap

import lossbench.losses as zoo
import pytest
from helpers.loss_cases import CLASS_COUNTS, NUM_CLASSES, random_batch
from lossbench.losses import LossModule, available_losses, build_loss, loss_info
from lossbench.losses._registry import implements, module_params, register
from lossbench.losses._values import InRange, OneOf

# Arguments of every module / function that are not loss parameters.
NOT_PARAMS = {"self", "logits", "target", "num_classes", "class_counts", "reduction"}


def _fresh(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_registry_and_its_metadata_import_no_torch():
    found = _fresh("""
        import json, sys
        from lossbench.losses import available_losses, loss_info
        info = {name: [loss_info(name).description, loss_info(name).reference,
                       repr(loss_info(name).params), loss_info(name).needs_class_counts,
                       [s.describe() for s in loss_info(name).search_space.values()],
                       [b.describe() for b in loss_info(name).bounds.values()],
                       list(loss_info(name).reductions)]
                for name in available_losses()}
        from lossbench.config.losses import check_fixed_params, resolve_losses, tuned_space
        resolve_losses("all")
        check_fixed_params("focal", {"gamma": 1.0})
        tuned_space("class_balanced", {"beta": 0.99})
        before = "torch" in sys.modules
        from lossbench.losses import focal_loss  # the code: torch now
        print(json.dumps({"names": sorted(info), "torch_before": before,
                          "torch_after": "torch" in sys.modules,
                          "function": focal_loss.__name__}))
    """)
    assert found["names"] == available_losses()
    assert found["torch_before"] is False
    assert found["torch_after"] is True and found["function"] == "focal_loss"


@pytest.mark.parametrize("name", available_losses())
def test_declared_params_are_the_modules_init_signature(name):
    """Names, order and defaults: the declaration and ``__init__`` cannot drift apart."""
    info = loss_info(name)
    signature = inspect.signature(info.module.__init__)
    keyword = {key: p.default for key, p in signature.parameters.items()
               if p.kind == p.KEYWORD_ONLY and key not in NOT_PARAMS}
    assert list(keyword.items()) == list(info.params.items())
    assert module_params(info.module) == info.params
    others = [key for key, p in signature.parameters.items()
              if p.kind != p.KEYWORD_ONLY and key not in NOT_PARAMS]
    assert others == [], f"{info.module.__name__} takes {others} as positional parameters"
    assert signature.parameters["reduction"].default == "mean"
    assert ("class_counts" in signature.parameters) == info.needs_class_counts
    assert tuple(info.module.reductions) == info.reductions
    assert info.module.loss_name == name
    assert issubclass(info.module, LossModule)


@pytest.mark.parametrize("name", available_losses())
def test_function_and_plain_forms_take_declared_params_with_declared_defaults(name):
    info = loss_info(name)
    for form in (info.function, info.plain):
        parameters = inspect.signature(form).parameters
        own = {key: p.default for key, p in parameters.items() if key not in NOT_PARAMS}
        assert set(own) <= set(info.params), f"{form.__name__} takes undeclared {own}"
        assert own == {key: info.params[key] for key in own}, form.__name__
        assert ("class_counts" in parameters) == info.needs_class_counts
        assert list(parameters)[:2] == ["logits", "target"]
    assert "weight" in inspect.signature(info.function).parameters
    assert inspect.signature(info.function).parameters["reduction"].default == "mean"


@pytest.mark.parametrize("name", available_losses())
def test_every_loss_is_importable_by_name_from_the_package(name):
    info = loss_info(name)
    assert getattr(zoo, info.class_name) is info.module
    assert getattr(zoo, info.function_name) is info.function
    assert getattr(zoo.plain, info.plain_name) is info.plain
    assert info.class_name in zoo.__all__ and info.function_name in zoo.__all__


def test_every_public_name_resolves():
    for public in zoo.__all__:
        assert getattr(zoo, public) is not None
        assert public in dir(zoo)
    namespace: dict = {}
    exec("from lossbench.losses import *", namespace)  # noqa: S102
    assert set(zoo.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="has no attribute 'focal_los'"):
        zoo.focal_los  # noqa: B018


def _outside(bound: InRange | OneOf):
    """Values the bound refuses."""
    if isinstance(bound, OneOf):
        return ["some", None]
    values = [bound.low if bound.low_open else bound.low - 0.5, "x", float("nan")]
    if bound.high is not None:
        values.append(bound.high if bound.high_open else bound.high + 0.5)
    return values


def _inside(bound: InRange | OneOf):
    if isinstance(bound, OneOf):
        return list(bound.choices)
    low = bound.low + (0.25 if bound.low_open else 0.0)
    return [low] + ([] if bound.high is None or bound.high_open else [bound.high])


BOUNDED = [(name, param) for name in available_losses() for param in loss_info(name).bounds]


@pytest.mark.parametrize("name, param", BOUNDED, ids=[f"{n}-{p}" for n, p in BOUNDED])
def test_declared_bounds_are_what_module_and_function_refuse(name, param):
    """The suite check (torch-free) refuses a value with the message the loss itself gives."""
    info = loss_info(name)
    counts = CLASS_COUNTS if info.needs_class_counts else None
    logits, target = random_batch(n=8)
    takes = param in inspect.signature(info.function).parameters
    extra = [CLASS_COUNTS] if info.needs_class_counts else []
    for value in _outside(info.bounds[param]):
        with pytest.raises(ValueError) as declared:
            info.check(param, value)
        with pytest.raises(ValueError) as built:
            build_loss(name, NUM_CLASSES, counts, **{param: value})
        assert str(built.value) == str(declared.value)
        assert str(declared.value).startswith(f"{param} must be ")
        if takes:
            with pytest.raises(ValueError) as called:
                info.function(logits, target, *extra, **{param: value})
            assert str(called.value) == str(declared.value)
    for value in _inside(info.bounds[param]):
        info.check(param, value)
        build_loss(name, NUM_CLASSES, counts, **{param: value})


def test_a_module_that_drifts_from_its_declaration_is_refused():
    class PolyLoss(LossModule):
        def __init__(self, num_classes: int, *, epsilon: float = 2.0, weight=None,
                     reduction: str = "mean") -> None:
            super().__init__(num_classes, weight, reduction)

    with pytest.raises(ValueError, match=r"parameters \{'epsilon': 2.0, 'weight': None\} differ"):
        implements("poly")(PolyLoss)

    class SoftF1Loss(LossModule):  # all three reductions, where soft-F1 declares "mean" only
        def __init__(self, num_classes: int, *, epsilon: float = 1e-7, clamp: bool = False,
                     weight=None, reduction: str = "mean") -> None:
            super().__init__(num_classes, weight, reduction)

    with pytest.raises(ValueError, match=r"reductions \('mean', 'sum', 'none'\) differ"):
        implements("soft_f1")(SoftF1Loss)


@pytest.mark.parametrize("kwargs, message", [
    ({"search_space": {"gama": None}}, r"search space of 'x' names unknown params \['gama'\]"),
    ({"bounds": {"gama": None}}, r"bounds of 'x' names unknown params \['gama'\]"),
    ({"params": {"gamma": 1.0, "reduction": "mean"}}, r"name \['reduction'\]"),
    ({"reductions": ("sum",)}, r"reductions of 'x' must start with 'mean'"),
])
def test_a_bad_declaration_is_refused(kwargs, message):
    declaration = {"module": "x.XLoss", "function": "x_loss", "plain": "x", "description": "",
                   "reference": "", "params": {"gamma": 1.0}, "search_space": {}, **kwargs}
    with pytest.raises(ValueError, match=message):
        register("x", **declaration)
    assert "x" not in available_losses()
    with pytest.raises(ValueError, match="already registered"):
        register("focal", **declaration)
