"""A journal file's torn tail, cut back before anything is appended.

Optuna's ``JournalFileBackend`` writes one JSON object per line, each ending in a newline, and
appends a line with one ``write`` under its lock file. A power cut (or a full disk) in the middle
of that write leaves a last line without its newline. Optuna reads past such a line, but the next
append lands on it: the two make one line that is not JSON, and every later open of the file
fails. ``cut_torn_tail`` moves such a partial last record into a side file ``PATH.torn-<UTC
time>`` and truncates the journal after its last complete record, under Optuna's lock, with one
warning line on stderr. A last line that is not the start of an Optuna record is not a torn write:
the file is refused and left as it is.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lossbench.errors import UserError

RECORD_START = b'{"op_code":'
"""How every line Optuna's journal storage writes begins (``json.dumps`` of its log dict)."""
BLOCK = 1 << 16


def cut_torn_tail(path: Path, shown: str) -> Path | None:
    """Cut a torn last record of the journal file ``path`` off; returns the side file, or None
    when the file ends in a complete record (or does not exist). ``shown`` names the storage."""
    if not path.is_file() or _torn(path, shown) is None:
        return None
    from optuna.storages.journal import JournalFileOpenLock
    from optuna.storages.journal._file import get_lock_file

    with get_lock_file(JournalFileOpenLock(str(path))):  # no worker appends meanwhile
        found = _torn(path, shown)
        if found is None:
            return None
        end, fragment = found
        side = _side_file(path)
        with open(side, "xb") as kept:
            kept.write(fragment)
            kept.flush()
            os.fsync(kept.fileno())
        with open(path, "r+b") as journal:
            journal.truncate(end)
            journal.flush()
            os.fsync(journal.fileno())
    print(f"lossbench: warning: journal storage {shown!r} ended in a torn record "
          f"({len(fragment)} bytes of a write cut short); cut off and kept in {side}",
          file=sys.stderr, flush=True)
    return side


def _torn(path: Path, shown: str) -> tuple[int, bytes] | None:
    """``(end of the last complete record, the bytes after it)``; None when there are none."""
    with open(path, "rb") as journal:
        size = journal.seek(0, os.SEEK_END)
        end = 0
        position = size
        while position > 0:
            start = max(0, position - BLOCK)
            journal.seek(start)
            newline = journal.read(position - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            position = start
        if end == size:
            return None
        journal.seek(end)
        fragment = journal.read()
    head = fragment.lstrip(b"\r")
    if not (head.startswith(RECORD_START) or RECORD_START.startswith(head)
            or not fragment.strip(b"\0")):
        raise UserError(f"cannot open journal storage {shown!r}: it is not an Optuna journal "
                        f"file (its last line is incomplete and is not a journal record)")
    return end, fragment


def _side_file(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    side, number = path.with_name(f"{path.name}.torn-{stamp}"), 1
    while side.exists():
        number += 1
        side = path.with_name(f"{path.name}.torn-{stamp}-{number}")
    return side
