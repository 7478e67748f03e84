"""What the signal and orphan tests read while a run goes on: the process table (Linux ``/proc``)
and the trials its workers claimed in the study file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped runs nothing: gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and \
                    int((entry / "stat").read_text().rsplit(")", 1)[-1].split()[1]) == pid:
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def claimed_trials(db: Path) -> dict:
    """Claimed trials, ``(study id, number) -> (state, value, worker pid)``, read with plain SQL
    (the run holds the database; a read-only look is enough); empty before the file exists."""
    query = ("SELECT t.study_id, t.number, t.state, v.value, a.value_json FROM trials t "
             "JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'worker' "
             "LEFT JOIN trial_values v ON v.trial_id = t.trial_id")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            rows = connection.execute(query).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    return {(s, n): (state, v, json.loads(w)["pid"]) for s, n, state, v, w in rows}
