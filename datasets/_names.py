"""Helpful messages for names that are not known: "Did you mean …? Allowed: …"."""

from __future__ import annotations

from collections.abc import Iterable

from lossbench.errors import close_matches


def unknown_name_message(kind: str, name: object, allowed: Iterable[str]) -> str:
    """Say that ``name`` is not a known ``kind``, suggest close matches and list the allowed names.

    The close matches come from ``lossbench.errors.close_matches``, the package's one did-you-mean.
    """
    allowed = sorted(allowed)
    close = close_matches(name, allowed)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Allowed: {', '.join(allowed)}"


def check_choice(setting: str, value: object, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise a ``UserError`` listing them."""
    from lossbench.errors import UserError

    allowed = list(allowed)
    if value not in allowed:
        raise UserError(
            f"{setting} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}"
        )
    return str(value)
