"""Typed configuration from untyped tables (TOML), with one clear message per mistake.

``build_config(cls, table, where)`` fills a dataclass from a dict: an unknown key is answered with
the nearest allowed names, a wrong type or an out-of-range number names the key, the value and what
is allowed. Field metadata declares the limits: ``min``, ``max`` and ``choices``. A list holds
at most ``MAX_ITEMS`` values, and a message quotes a bad value in at most a few hundred characters
(``lossbench.errors.shown``).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from lossbench.errors import UserError, shown, unknown_name

T = TypeVar("T")
MAX_ITEMS = 1_000
"""The most values of a list setting (``step_milestones``, ``cosine_head``)."""


def field(default: Any, **limits: Any) -> Any:
    """A dataclass field with a default and validation limits (``min``, ``max``, ``choices``)."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return dataclasses.field(default=default, metadata=limits)


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        type(value), type(value).__name__
    )


def _a(noun: str) -> str:
    """``noun`` with its article: "an integer", "a number"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _check_scalar(value: Any, expected: type, key: str) -> Any:
    """``value`` as ``expected`` (an int is accepted for a float), or a UserError naming ``key``."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise UserError(f"{key} must be true or false, got {shown(value)} "
                        f"({_type_name(value)})")
    if expected in (int, float) and isinstance(value, bool):
        raise UserError(f"{key} must be {_a(_type_name(expected()))}, got {shown(value)}")
    if not isinstance(value, expected):
        raise UserError(
            f"{key} must be {_a(_type_name(expected()))}, got {shown(value)} "
            f"({_type_name(value)})"
        )
    return value


def _check_value(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{key} must be a list, got {shown(value)} ({_type_name(value)})")
        if len(value) > MAX_ITEMS:
            raise UserError(f"{key} must list at most {MAX_ITEMS} values, got {len(value)}: "
                            f"{shown(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check_scalar(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise UserError(f"{key} must be a list of {len(args)} values, got {shown(value)}")
        return tuple(_check_scalar(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    return _check_scalar(value, annotation, key)


def _check_limits(value: Any, limits: dict, key: str) -> None:
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if "choices" in limits and item not in limits["choices"]:
            raise unknown_name(f"value for {key}:", item, limits["choices"])
        if "min" in limits and item < limits["min"]:
            raise UserError(f"{key} must be at least {limits['min']}, got {shown(item)}")
        if "max" in limits and item > limits["max"]:
            raise UserError(f"{key} must be at most {limits['max']}, got {shown(item)}")


def build_config(cls: type[T], table: Any, where: str, base: T | None = None) -> T:
    """An instance of dataclass ``cls`` from ``table``; keys absent keep ``base``'s or defaults.

    ``where`` is the table's name in messages (``"budget"`` gives ``budget.epochs must be …``).
    """
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table, got {shown(table)} ({_type_name(table)})")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key in table:
        if key not in fields:
            raise unknown_name(f"key in [{where}]:", key, fields)
    values = {}
    for name, spec in fields.items():
        if name not in table:
            continue
        key = f"{where}.{name}"
        value = _check_value(table[name], hints[name], key)
        _check_limits(value, dict(spec.metadata), key)
        values[name] = value
    start = base if base is not None else cls()
    return dataclasses.replace(start, **values)  # type: ignore[type-var]
