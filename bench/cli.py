"""The ``lossbench`` command line.

Each sub-command lives in ``lossbench.commands.<name>`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit status).
Bad input (``ValueError``, ``FileNotFoundError``, …) becomes one message and exit status 2.
Ctrl-C and SIGTERM take one clean path: the exception unwinds (a trial under way is marked
failed, ``--workers`` helpers are stopped and reaped), one line is printed and the status is
128 + the signal (130, 143); a ``--workers`` helper stopped so prints nothing, its parent speaks
for it (helpers ignore Ctrl-C: the parent stops them, ``lossbench.tuning.workers.spawn``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from lossbench.redaction import hide_secrets
from lossbench.signals import ignored

HELPER_ENV = "LOSSBENCH_HELPER"  # as ``lossbench.tuning.workers`` sets it (not imported: torch)
COMMANDS = ("run", "tune", "report", "timing", "losses", "datasets", "gpu_check")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: exit 2, one line
        self.exit(2, f"lossbench: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lossbench", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"lossbench.commands.{name}")
        module.register(subparsers)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt so that it unwinds the
    same way (``except Exception`` handlers let it through, cleanups run)."""

    signum = signal.SIGTERM


_MAIN_PID = os.getpid()
_raised = [0]
"""How many times ``_terminated`` raised: a dropped one is sent again only if none came since."""
REDELIVER_SECONDS = 0.05


def _terminated(signum: int, frame: object) -> None:
    """Raise ``Terminated``. A helper raises it once and ignores what follows (a supervisor's
    SIGTERM to the process group, then its parent's): a second one would land in the cleanup the
    first started; its parent kills it if that cleanup hangs. One that Python drops is sent
    again (``_dropped_terminated``)."""
    if os.getpid() != _MAIN_PID:  # a forked child (the report's figure pool): die as by default
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if os.environ.get(HELPER_ENV):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _raised[0] += 1
    raise Terminated("SIGTERM")  # a trial it stops records "Terminated: SIGTERM"


def _dropped_terminated(previous):
    """A ``sys.unraisablehook`` for while ``_terminated`` handles SIGTERM. Python runs a signal
    handler wherever the main thread is, a weakref callback or a ``__del__`` among others, and
    there it drops the exception with an "Exception ignored in" traceback: the process would
    train on (a helper, which ignores any later SIGTERM, to the end of its share, however it
    was told to stop: its parent's SIGTERM or the kernel's when its parent died). So a dropped
    ``Terminated`` prints nothing and SIGTERM is sent again shortly, from another thread (the
    handler then runs in the main thread's ordinary flow, or is dropped and sent again once
    more), unless another ``Terminated`` was raised meanwhile. Everything else goes to
    ``previous``."""

    def hook(unraisable) -> None:
        if not isinstance(unraisable.exc_value, Terminated):
            previous(unraisable)
            return
        if _on_main_thread():  # always, in practice: handlers run there
            signal.signal(signal.SIGTERM, _terminated)  # a helper set it to ignore
        seen = _raised[0]

        def again() -> None:
            if _raised[0] == seen:
                os.kill(os.getpid(), signal.SIGTERM)

        timer = threading.Timer(REDELIVER_SECONDS, again)
        timer.daemon = True  # never holds the process's exit
        timer.start()

    return hook


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # where signal.signal works


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit status. SIGTERM becomes ``Terminated`` unless whoever
    started us ignores it or handles it already."""
    handle = _on_main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    previous = signal.signal(signal.SIGTERM, _terminated) if handle else None
    hook = sys.unraisablehook
    if handle:
        sys.unraisablehook = _dropped_terminated(hook)
    try:
        return _main(argv)
    except KeyboardInterrupt as error:
        with ignored(signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C: no traceback here
            if not os.environ.get(HELPER_ENV):
                print("lossbench: interrupted; finished work is kept and a rerun resumes",
                      file=sys.stderr)
        return 128 + getattr(error, "signum", signal.SIGINT)
    finally:
        if previous is not None:  # a caller in this process (a test) gets its handler back
            signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"lossbench: error: {hide_secrets(str(message))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a file the user named cannot be read: a symlink loop, permissions
        where = f": {error.filename}" if error.filename else ""
        print(f"lossbench: error: {hide_secrets(str(error.strerror or error))}{where}",
              file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
