"""The ``lossbench`` command line.

Each sub-command lives in ``lossbench.commands.<name>`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit status).
Bad input (``ValueError``, ``FileNotFoundError``, …) becomes one message and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from lossbench.redaction import hide_secrets

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


def main(argv: list[str] | None = None) -> int:
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
    except KeyboardInterrupt:
        print("lossbench: interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
