"""Signals held off for a block: the one helper the command line (its last line) and the worker
processes (starting and stopping helpers) share. Imports nothing of lossbench."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def ignored(*signums: int) -> Iterator[None]:
    """``signums`` ignored in the block, their handlers restored after it. Python sets handlers
    on the main thread only; elsewhere the block runs as it is."""
    signums = signums if threading.current_thread() is threading.main_thread() else ()
    previous = [signal.signal(signum, signal.SIG_IGN) for signum in signums]
    try:
        yield
    finally:
        for signum, handler in zip(signums, previous):
            if handler is not None:  # None: set outside Python, not restorable
                signal.signal(signum, handler)
