"""``DatasetSpec``: one dataset of a suite, as data (a TOML table), validated on construction.

Validation includes the dataset's name (``NAME_RULE``: it is shown in reports and terminals and,
hashed where needed, names folders) and each source's size check (``register_size_check``: sizes
against memory), so a suite with an absurd size is refused when it is read, before a run writes
anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lossbench.datasets._names import check_choice, unknown_name_message
from lossbench.datasets.profiles import check_profile
from lossbench.datasets.sources import get_source
from lossbench.errors import UserError, shown

CLASS_ORDERS = ("given", "shuffled")
VAL_MODES = ("auto", "balanced", "stratified")
TEST_MODES = ("auto", "balanced", "source", "natural")
MAX_NAME = 100
NAME_RULE = (f"1 to {MAX_NAME} printable characters (letters, digits, spaces, punctuation; no "
             "newline, tab or terminal escape) without '/' or '\\', not starting with '.', '~' "
             "or a space, not ending with a space")
"""What a dataset name may be: it is printed in terminals and reports, so no control characters
(terminal escapes, newlines); folder names are made from it by ``store.folder_name`` (with a hash
where it is not already a safe path component), and path separators and a leading '.' or '~' are
refused as well so that no reader ever takes it for a path."""
_SIZE_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {}


def register_size_check(source: str, check: Callable[[dict[str, Any]], None]) -> None:
    """Run ``check(options)`` (the resolved options) whenever a spec of ``source`` is made: a
    source's bound on the memory its data takes, checked before anything is loaded."""
    _SIZE_CHECKS[source] = check


def check_dataset_name(name: str) -> str:
    """``name`` if it follows ``NAME_RULE``; else a UserError that says what is allowed."""
    if not (0 < len(name) <= MAX_NAME and name.isprintable() and "/" not in name
            and "\\" not in name and not name.startswith((".", "~", " "))
            and not name.endswith(" ")):
        raise UserError(f"name must be {NAME_RULE}; got {shown(name)}")
    return name


@dataclass(frozen=True)
class DatasetSpec:
    """What data to load and how to make it long-tailed. Settings (keys of the TOML table):

    ========================  =============================================================
    ``source``                registered source name (``lossbench datasets`` lists them).
    ``options``               nested table of source options, e.g. ``{root = "…", target = "age"}``
                              for ``mask``; ``lossbench datasets show NAME --help`` lists them.
    ``name``                  readable label; default e.g. ``"digits-exp10"``.
    ``profile``               ``natural`` (default), ``exp``, ``step``, ``pareto``, ``scarce``.
    ``imbalance_ratio``       ρ ≥ 1, largest / smallest train class (exp, step, pareto); 100.
    ``n_max``                 train size of the largest class; default: the smallest class's
                              available count, so every profile fits. A cap for natural/scarce.
    ``pareto_shape``          shape of the ``pareto`` profile; 6 (ImageNet-LT).
    ``scarce_classes``        ``scarce``: class names or indices to cut, or instead
    ``scarce_attribute``      an attribute (e.g. ``"age"``) and ``scarce_value`` (e.g. ``">=60"``
    ``scarce_value``          or its index ``2``): every class with that value is cut.
    ``scarce_fraction``       fraction of its available rows a scarce class keeps (of its persons,
                              whole, where the source has groups); 0.1.
    ``class_order``           ``given`` (class 0 largest, default) or ``shuffled`` (by the seed).
    ``val``                   ``auto`` (default): ``balanced`` when every class has room for
                              ``val_per_class`` rows beside its train count, else ``stratified``
                              (carved from the long-tailed pool, so train+val follow the profile).
    ``val_fraction``          0.2: stratified share, and the default ``val_per_class`` as a share
                              of the smallest available class.
    ``val_per_class``         rows per class of a balanced validation split.
    ``test``                  ``auto`` (default): the source's own test split if it has one, else a
                              ``balanced`` one (``natural`` where rows come in groups); ``balanced``,
                              ``source`` or ``natural`` (a stratified ``test_fraction`` of groups/rows).
    ``test_fraction``         0.2: natural share, and the default ``test_per_class`` as a share of
                              the smallest class.
    ``test_per_class``        rows per class of a balanced test split made from the pool.
    ``test_seed``             0: seed of the test split. It is fixed on purpose: the test set is
                              the same for every run seed and every profile.
    ``seed``                  unset (default): the data follows ``prepare(spec, seed=…)`` (class
                              order, validation rows, resampled train rows). Set it to keep one
                              data draw across all run seeds.
    ========================  =============================================================
    """

    source: str
    options: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    profile: str = "natural"
    imbalance_ratio: float = 100.0
    n_max: int | None = None
    pareto_shape: float = 6.0
    scarce_classes: tuple[str | int, ...] = ()
    scarce_attribute: str | None = None
    scarce_value: str | int | None = None
    scarce_fraction: float = 0.1
    class_order: str = "given"
    val: str = "auto"
    val_fraction: float = 0.2
    val_per_class: int | None = None
    test: str = "auto"
    test_fraction: float = 0.2
    test_per_class: int | None = None
    test_seed: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        for key in ("source", "name", "profile", "class_order", "val", "test"):
            _text(key, getattr(self, key))
        _text("scarce_attribute", self.scarce_attribute, optional=True)
        source = get_source(self.source)
        object.__setattr__(self, "options", source.resolve_options(self.options))
        if self.source in _SIZE_CHECKS:
            _SIZE_CHECKS[self.source](self.options)
        check_profile(self.profile)
        _number("imbalance_ratio", self.imbalance_ratio, low=1.0)
        _number("pareto_shape", self.pareto_shape, low=0.0, strict=True)
        _number("scarce_fraction", self.scarce_fraction, low=0.0, high=1.0, strict=True)
        _number("val_fraction", self.val_fraction, low=0.0, high=1.0, strict=True)
        _number("test_fraction", self.test_fraction, low=0.0, high=1.0, strict=True)
        for key in ("n_max", "val_per_class", "test_per_class"):
            _whole(key, getattr(self, key), low=1, optional=True)
        _whole("test_seed", self.test_seed, low=0)
        _whole("seed", self.seed, low=0, optional=True)
        check_choice("class_order", self.class_order, CLASS_ORDERS)
        check_choice("val", self.val, VAL_MODES)
        check_choice("test", self.test, TEST_MODES)
        object.__setattr__(self, "scarce_classes", _class_list(self.scarce_classes))
        if self.scarce_value is not None and (isinstance(self.scarce_value, bool) or
                                              not isinstance(self.scarce_value, (str, int))):
            raise UserError(f"scarce_value must be a value name or index; "
                            f"got {shown(self.scarce_value)}")
        if (self.scarce_attribute is None) != (self.scarce_value is None):
            raise UserError("scarce_attribute and scarce_value go together; give both or neither")
        if self.profile == "scarce" and not self.scarce_classes and self.scarce_attribute is None:
            raise UserError("profile 'scarce' needs scarce_classes, or scarce_attribute and "
                            "scarce_value (e.g. scarce_attribute = \"age\", scarce_value = \">=60\")")
        if not self.name:
            object.__setattr__(self, "name", self.default_name())
        check_dataset_name(self.name)

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    def default_name(self) -> str:
        """A short label: ``digits-exp10``, ``mask-natural``, ``gaussian-scarce0.1``."""
        if self.profile in ("exp", "step", "pareto"):
            return f"{self.source}-{self.profile}{self.imbalance_ratio:g}"
        if self.profile == "scarce":
            return f"{self.source}-scarce{self.scarce_fraction:g}"
        return f"{self.source}-{self.profile}"

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> DatasetSpec:
        """Build a spec from a plain table (a suite's TOML), rejecting unknown keys by name."""
        if not isinstance(table, dict):
            raise UserError(f"a dataset spec must be a table; got {shown(table)}")
        allowed = [f.name for f in fields(cls)]
        for key in table:
            if key not in allowed:
                raise UserError(_unknown_key_message(key, table, allowed))
        if "source" not in table:
            raise UserError(f"a dataset spec needs 'source'; allowed keys: {', '.join(allowed)}")
        return cls(**table)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able data (paths as strings)."""
        table = asdict(self)
        table["options"] = {k: (str(v) if hasattr(v, "__fspath__") else v)
                            for k, v in self.options.items()}
        table["scarce_classes"] = list(self.scarce_classes)
        return table


def _unknown_key_message(key: str, table: dict[str, Any], allowed: list[str]) -> str:
    message = unknown_name_message("dataset setting", key, allowed)
    source = table.get("source")
    if isinstance(source, str):
        try:
            option_names = [o.name for o in get_source(source).options]
        except UserError:
            option_names = []
        if key in option_names:
            message += f". {key!r} is an option of source {shown(source)}: put it under 'options'"
    return message


def _number(key: str, value: Any, *, low: float, high: float = math.inf,
            strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if strict else value >= low) and value <= high
    if not ok:
        bound = f"> {low:g}" if strict else f">= {low:g}"
        upper = f" and <= {high:g}" if high != math.inf else ""
        raise UserError(f"{key} must be a number {bound}{upper}; got {shown(value)}")


def _text(key: str, value: Any, optional: bool = False) -> None:
    if not (isinstance(value, str) or (optional and value is None)):
        raise UserError(f"{key} must be a string; got {shown(value)}")


def _class_list(value: Any) -> tuple[str | int, ...]:
    """scarce_classes as a tuple of names or indices; one name or index alone is a list of one."""
    items = [value] if isinstance(value, (str, int)) else value
    if not isinstance(items, (list, tuple)) or any(
            isinstance(item, bool) or not isinstance(item, (str, int)) for item in items):
        raise UserError(f"scarce_classes must be a list of class names or indices; "
                        f"got {shown(value)}")
    return tuple(items)


def _whole(key: str, value: Any, *, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{key} must be a whole number >= {low}; got {shown(value)}")
