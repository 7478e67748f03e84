"""The one exception type for bad user input, and the one "did you mean" helper.

``UserError`` subclasses ``ValueError`` so library callers can catch the usual type; the command
line turns it into one message on stderr and exit status 2, never a traceback. Every room of the
package (the loss zoo and the data sources included) builds its "unknown name" messages with
``nearest`` / ``unknown_name`` from here, so they read alike everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """Bad input from the user: the message names the bad value and what is allowed."""


def close_matches(name: object, allowed: Iterable[str]) -> list[str]:
    """Up to three names of ``allowed`` close to ``name`` (difflib, cutoff 0.5)."""
    return difflib.get_close_matches(str(name), list(allowed), n=3, cutoff=0.5)


def nearest(name: object, allowed: Iterable[str]) -> str:
    """A "did you mean" clause for ``name`` among ``allowed`` ('' when nothing is close)."""
    matches = close_matches(name, allowed)
    return f" (did you mean {', '.join(repr(m) for m in matches)}?)" if matches else ""


def unknown_name(what: str, name: object, allowed: Iterable[str]) -> UserError:
    """The error for a name that is not one of ``allowed``: nearest names first, then all."""
    allowed = sorted(allowed)
    return UserError(
        f"unknown {what} {name!r}{nearest(name, allowed)}; allowed: {', '.join(allowed)}"
    )
