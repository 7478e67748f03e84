"""The source registry: every data source registers a name, a one-line summary, its options and a loader.

A loader turns validated options into a ``SourceData``: every row of the source (its own test split
included, flagged by ``source_test``), labels, optional groups (e.g. the mask data's persons) and the
per-class attributes the ``scarce`` profile can select on. Resampling and splitting happen later, in
``lossbench.datasets.prepare``; sources never know about profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from lossbench.datasets._names import unknown_name_message
from lossbench.errors import UserError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Option:
    """One setting of a source: name, kind (int, float, str, bool, path, counts, ids), default, help."""

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    def parse(self, value: Any, source: str) -> Any:
        """Convert ``value`` (from TOML or a command-line string) to this option's kind."""
        where = f"option {self.name!r} of source {source!r}"
        try:
            parsed = _PARSERS[self.kind](value)
        except (TypeError, ValueError) as error:
            raise UserError(f"{where} must be {_KIND_WORDS[self.kind]}; got {value!r}") from error
        if self.choices is not None and parsed not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise UserError(f"{where} must be one of {allowed}; got {value!r}")
        return parsed


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError(value)


def _parse_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _parse_counts(value: Any) -> str | list[int] | None:
    """A preset name (``"mask"``), a list of ints, or a comma-separated string of ints."""
    if value is None:
        return None
    if isinstance(value, str):
        if "," not in value and not value.strip().isdigit():
            return value.strip()
        value = [part for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [_parse_int(item) for item in value]
    raise ValueError(value)


def _parse_path(value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)):
        raise TypeError(value)
    return Path(value).expanduser()


def _parse_ids(value: Any) -> list[str]:
    """A list of ids (strings or numbers kept as written), or a comma-separated string of them."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise TypeError(value)
    return [str(item).strip() for item in value if str(item).strip()]


def _parse_optional_int(value: Any) -> int | None:
    return None if value is None else _parse_int(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "int": _parse_int,
    "optional_int": _parse_optional_int,
    "float": float,
    "str": lambda value: value if isinstance(value, str) else _fail(value),
    "bool": _parse_bool,
    "path": _parse_path,
    "counts": _parse_counts,
    "ids": _parse_ids,
}
_KIND_WORDS = {
    "int": "a whole number",
    "optional_int": "a whole number",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "path": "a path",
    "counts": "a preset name or a list of whole numbers",
    "ids": "a list of ids",
}


def _fail(value: Any) -> Any:
    raise ValueError(value)


@dataclass
class SourceData:
    """Everything a source holds, before any split or resampling.

    ``x`` is float32 (N, D) for feature sources or uint8 (N, 3, H, W) for image sources; ``y`` int64
    (N,). ``source_test`` flags the rows of the source's own test split (None: it has none).
    ``groups`` holds an int group id per row (None: rows are independent). ``class_attributes`` maps an
    attribute name to the value name of every class (e.g. ``{"age": ["<30", …]}``);
    ``attribute_values`` lists each attribute's value names in order. ``oracle(x, priors)`` returns
    the Bayes-optimal predictions for rows ``x`` under class priors ``priors`` (gaussian only).
    ``x`` is None only when the loader was asked not to decode images (``decode=False``).
    """

    x: torch.Tensor | None
    y: np.ndarray
    class_names: list[str]
    kind: str
    source_test: np.ndarray | None = None
    groups: np.ndarray | None = None
    class_attributes: dict[str, list[str]] = field(default_factory=dict)
    attribute_values: dict[str, list[str]] = field(default_factory=dict)
    oracle: Callable[[torch.Tensor, np.ndarray], torch.Tensor] | None = None
    description: dict[str, Any] = field(default_factory=dict)


class Loader(Protocol):
    """``load(options, cache_dir, decode=True)``: with ``decode=False`` an image source may skip
    decoding and return ``x=None`` (labels, groups and counts only)."""

    def __call__(self, options: dict[str, Any], cache_dir: Path, decode: bool = True) -> SourceData:
        ...


@dataclass(frozen=True)
class Source:
    """A registered data source: ``load(options, cache_dir, decode=True)`` gives its ``SourceData``."""

    name: str
    summary: str
    options: tuple[Option, ...]
    load: Loader

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise UserError(unknown_name_message(f"option of source {self.name!r}", name,
                                             [o.name for o in self.options]))

    def resolve_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validate ``given`` against this source's options and fill in the defaults."""
        if not isinstance(given, dict):
            raise UserError(f"options of source {self.name!r} must be a table; got {given!r}")
        resolved = {option.name: option.default for option in self.options}
        for name, value in given.items():
            resolved[name] = self.option(name).parse(value, self.name)
        return resolved


_REGISTRY: dict[str, Source] = {}


def register_source(source: Source) -> Source:
    """Add ``source`` to the registry; a second source with the same name is refused."""
    if source.name in _REGISTRY:
        raise ValueError(f"a source named {source.name!r} is already registered")
    _REGISTRY[source.name] = source
    return source


def available_sources() -> list[str]:
    """Sorted names of every registered source."""
    return sorted(_REGISTRY)


def get_source(name: str) -> Source:
    """The registered source called ``name``; a miss names the close matches and lists all."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name (a TOML list) is a miss too
        raise UserError(unknown_name_message("source", name, available_sources())) from None
