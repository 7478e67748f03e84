"""Storage failures during a run: one line naming the storage, after a bounded retry.

``open_storage`` builds its storages from ``guarded(RDBStorage)`` and ``guarded(JournalStorage)``:
the same Optuna classes (every ``isinstance`` check and Optuna's cache still see them), whose
storage calls go through ``call``. There, and only there, an error of the database or the file
becomes a ``StorageFailure`` (a ``UserError``: one line and exit status 2 at the command line)
that names the storage with its password masked, e.g. ``storage sqlite:///results/x/studies.db
failed: attempt to write a readonly database (is the file or its folder read-only?)``.

- Transient errors (a lost or refused connection, ``database is locked``, a statement timeout)
  are tried ``1 + len(RETRY_DELAYS)`` times, sleeping ``RETRY_DELAYS`` seconds between tries
  (3 tries over 5 s). Once a call has used up its tries, later calls fail at the first error
  until one succeeds again (no retry cascade while the storage is down).
- Other errors of the database (read-only, disk full, a damaged file) and a journal file's
  ``OSError`` fail at once: appending to a journal file again could land on a half-written line.
- Errors that are not the storage's (Optuna's ``UpdateFinishedTrialError``, ``KeyError`` of a
  missing study, a unique-constraint ``IntegrityError``) pass through unchanged.
- A heartbeat that cannot be recorded prints one warning line and lets the trial go on (the
  next storage call of the trial reports the failure).
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lossbench.errors import UserError
from lossbench.redaction import hide_secrets

RETRY_DELAYS = (1.0, 4.0)
"""Seconds slept before the second and the third try of a storage call that failed transiently."""
SHOWN_ATTR = "_lossbench_shown"
"""The attribute of a guarded storage holding its URL as it may be printed (``redact(url)``)."""
PRIVATE_CALLS = ("_get_trials", "_get_stale_trial_ids")
"""Private storage methods Optuna calls from outside the storage (``_CachedStorage``, heartbeat)."""
NOT_CALLS = ("get_heartbeat_interval", "get_heartbeat_stale_trial_callback",
             "get_failed_trial_callback", "check_trial_is_updatable", "remove_session")
PERMANENT = ("readonly", "read-only", "disk is full", "no space left", "malformed",
             "not a database", "no such table", "no such column", "authentication failed",
             "permission denied", "unable to open database file", "does not exist")
"""Markers of a database error that another try cannot mend."""
HINTS = (("readonly", " (is the file or its folder read-only?)"),
         ("disk is full", " (free some space; a rerun resumes)"),
         ("malformed", " (the file is damaged: restore a copy or name another --storage)"),
         ("not a database", " (the file is damaged: restore a copy or name another --storage)"))

_local = threading.local()
T = TypeVar("T")


class StorageFailure(UserError):
    """The study storage failed (after its retries): one line naming the storage."""


def diagnose(error: BaseException) -> tuple[bool, str] | None:
    """``(transient, detail)`` for an error of the database or journal file; None for others."""
    import optuna
    import sqlalchemy.exc as sa

    root = error
    if isinstance(error, optuna.exceptions.StorageInternalError) and error.__cause__ is not None:
        root = error.__cause__  # Optuna's wrapper of the SQLAlchemy error
    if isinstance(root, sa.IntegrityError):
        return None  # a constraint: Optuna and lossbench handle those themselves
    if isinstance(root, sa.SQLAlchemyError):
        detail = first_line(getattr(root, "orig", None) or root)
        lowered = detail.lower()
        transient = (getattr(root, "connection_invalidated", False)
                     or isinstance(root, (sa.OperationalError, sa.InterfaceError,
                                          sa.DisconnectionError, sa.TimeoutError))) \
            and not any(marker in lowered for marker in PERMANENT)
        hint = next((text for marker, text in HINTS if marker in lowered), "")
        return bool(transient), detail + hint
    if isinstance(root, optuna.exceptions.StorageInternalError):
        return False, first_line(root)
    if isinstance(root, OSError):
        where = f": {root.filename}" if root.filename else ""
        return False, f"{root.strerror or first_line(root)}{where}"
    return None


def call(storage: Any, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, a call on ``storage``, with the rules above."""
    down = getattr(storage, "_lossbench_down", "")  # how the storage went down, if it is
    tries = 1 if down else 1 + len(RETRY_DELAYS)
    for attempt in range(tries):
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            found = diagnose(error)
            if found is None:
                raise
            transient, detail = found
            if transient and attempt + 1 < tries:
                time.sleep(RETRY_DELAYS[attempt])
                continue
            after = (f" ({attempt + 1} tries over {sum(RETRY_DELAYS[:attempt]):g} s)"
                     if attempt else down)
            storage._lossbench_down = after if transient else ""
            shown = getattr(storage, SHOWN_ATTR, "of this study")
            raise StorageFailure(hide_secrets(f"storage {shown} failed{after}: {detail}")) \
                from error
        storage._lossbench_down = ""
        return result
    raise AssertionError("unreachable")


def _guard(function: Callable[..., Any]) -> Callable[..., Any]:
    heartbeat = function.__name__ == "record_heartbeat"

    @functools.wraps(function)
    def guarded(self, *args, **kwargs):
        if getattr(_local, "inside", False):  # a storage call made by a storage call
            return function(self, *args, **kwargs)
        _local.inside = True
        try:
            result = call(self, function, self, *args, **kwargs)
            if heartbeat:
                self._lossbench_warned = False
            return result
        except StorageFailure as failure:
            if not heartbeat:
                raise
            if not getattr(self, "_lossbench_warned", False):  # once until it works again
                self._lossbench_warned = True
                print(f"lossbench: warning: heartbeat not recorded: {failure}", file=sys.stderr)
            return None
        finally:
            _local.inside = False

    return guarded


@functools.cache
def guarded(base: type) -> type:
    """``base`` (an Optuna storage class) whose storage calls go through ``call``."""
    namespace: dict[str, Any] = {"__doc__": f"{base.__name__}, storage errors as one line."}
    for name in dir(base):
        if name in NOT_CALLS or (name.startswith("_") and name not in PRIVATE_CALLS):
            continue
        attribute = inspect.getattr_static(base, name)
        if inspect.isfunction(attribute):
            namespace[name] = _guard(attribute)
    cls = type(f"Guarded{base.__name__}", (base,), {**namespace, "__module__": __name__})
    globals()[cls.__name__] = cls  # found by name, as pickle looks for it
    return cls


def failure_in(error: BaseException) -> StorageFailure | None:
    """The ``StorageFailure`` that ``error`` is, or arose from (Optuna's own code may raise
    another error while handling one), if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, StorageFailure):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
