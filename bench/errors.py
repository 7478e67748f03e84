"""The one exception type for bad user input, and the one "did you mean" helper.

``UserError`` subclasses ``ValueError`` so library callers can catch the usual type; the command
line turns it into one message on stderr and exit status 2, never a traceback. Every room of the
package (the loss zoo and the data sources included) builds its "unknown name" messages with
``nearest`` / ``unknown_name`` from here, so they read alike everywhere.

Messages quote the bad value, and a value can be huge (a two-million-entry list, a name of a
megabyte): ``shown`` quotes a value in at most ``MAX_SHOWN`` characters, and ``UserError`` itself
cuts any message longer than ``MAX_MESSAGE`` characters in the middle (head and tail kept, the
length said), so no message is ever more than a line or two, whoever wrote it.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable

MAX_SHOWN = 200
"""The most characters of a bad value a message quotes (``shown``)."""
MAX_MESSAGE = 1000
"""The most characters of a ``UserError`` message; a longer one is cut in the middle."""
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxother, _REPR.maxlong, _REPR.maxstring = 3, MAX_SHOWN, MAX_SHOWN, MAX_SHOWN
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 10


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` in at most about ``limit`` characters, never building the whole repr of a
    huge value: a long list shows its first items and its length (``['ce', 'ce', …] (2000000
    items)``), a long text its ends and its length; a short value is its plain ``repr``."""
    text = _REPR.repr(value).replace("...", "…")
    cut = len(text) > limit
    if cut:
        text = text[:limit] + "…"
    if isinstance(value, str) and len(value) > limit:
        text += f" ({len(value)} characters)"
    elif isinstance(value, (list, tuple, dict, set)) and (cut or len(value) > _REPR.maxlist):
        text += f" ({len(value)} {'keys' if isinstance(value, dict) else 'items'})"
    return text


class UserError(ValueError):
    """Bad input from the user: the message names the bad value and what is allowed.

    A message longer than ``MAX_MESSAGE`` characters is cut in the middle (the start, which
    names the setting, and the end, which says what is allowed, are kept)."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str) and len(args[0]) > MAX_MESSAGE:
            message = args[0]
            head, tail = message[:MAX_MESSAGE // 2], message[-MAX_MESSAGE // 4:]
            # cut between words where there is a space near the cut, so that a word (a URL
            # whose password the command line masks) is kept whole or left out whole
            if head.rfind(" ") > len(head) // 2:
                head = head[:head.rfind(" ")]
            if -1 < tail.find(" ") < len(tail) // 2:
                tail = tail[tail.find(" ") + 1:]
            cut = len(message) - len(head) - len(tail)
            args = (f"{head} … [{cut} characters left out] … {tail}",)
        super().__init__(*args)


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
        f"unknown {what} {shown(name)}{nearest(name, allowed)}; allowed: {', '.join(allowed)}"
    )
