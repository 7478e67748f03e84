"""SIGKILL of ``lossbench run --workers 2`` (no handler runs, nothing can stop the helpers) must
not leave its helper training on, orphaned, to the end of the suite: on Linux each helper asks
the kernel for SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)`` in
``lossbench.tuning.workers.spawn``), takes the clean SIGTERM path (its trial is failed) and
exits; a rerun then finishes the folder with exactly the budget's trials. Real processes: a
parent's death does not show in-process. That SIGTERM comes once: one that Python drops (its
handler ran in a weakref callback) is sent again (``lossbench.cli._dropped_terminated``)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.processes import alive, children, claimed_trials
from helpers.suites import blobs_suite
from lossbench.cli import main
from lossbench.tuning import workers

linux = pytest.mark.skipif(not sys.platform.startswith("linux"),
                           reason="PR_SET_PDEATHSIG is Linux's; elsewhere helpers are not tied")

TRIALS = 5
SUITE = blobs_suite(name="orphans", losses=("ce", "focal"), counts=(150, 80, 30), trials=TRIALS,
                    epochs=4, seeds=1, startup_trials=1, prune_warmup_epochs=4)
FLAGS = ["--device", "cpu", "--threads", "1", "--no-report", "--no-progress"]
FINISHED = ("COMPLETE", "PRUNED")


@linux
@pytest.mark.slow
def test_sigkill_of_the_parent_stops_its_helpers_and_a_rerun_finishes(tmp_path):
    suite, out = tmp_path / "orphans.toml", tmp_path / "out"
    suite.write_text(SUITE)
    parent = subprocess.Popen([sys.executable, "-m", "lossbench.cli", "run", str(suite),
                               "--workers", "2", "--out", str(out), *FLAGS],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while True:  # a trial is stored and the helper trains its first ones (more to come)
            trials = claimed_trials(out / "studies.db")
            helpers = children(parent.pid)
            training = [key for key, t in trials.items()
                        if t[0] == "RUNNING" and t[2] in helpers and key[1] < TRIALS - 2]
            stored = [t for t in trials.values() if t[0] in FINISHED]
            if (stored and training) or parent.poll() is not None \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert stored and training and parent.poll() is None, \
            parent.poll() or "no helper trial in time"
        parent.kill()  # SIGKILL: no handler of the parent runs
        parent.wait()
        deadline = time.monotonic() + 15
        while [pid for pid in helpers if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.05)
        orphans = [pid for pid in helpers if alive(pid)]
    finally:
        for pid in helpers:  # whatever happened, nothing of this test trains on
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
        parent.stderr.close()
    assert not orphans, f"helpers {orphans} outlived their SIGKILLed parent"
    # Stopped by the SIGTERM the kernel sent it, not trained on to the end of its share: it was
    # killed at one of its first trials and had more to run, and the trial under way was failed
    # by its clean SIGTERM path (none left RUNNING).
    left = list(claimed_trials(out / "studies.db").values())
    assert sum(state in FINISHED for state, _, pid in left if pid in helpers) < TRIALS, left
    assert not [pid for state, _, pid in left if state == "RUNNING" and pid in helpers], left

    # The rerun fails the trial the parent left RUNNING (its process is gone) and completes
    # the folder with exactly the budget's trials per study (the stopped trials are FAIL rows,
    # never finished ones).
    assert main(["run", str(suite), "--workers", "1", "--out", str(out), *FLAGS]) == 0
    states = [t[0] for t in claimed_trials(out / "studies.db").values()]
    assert "RUNNING" not in states, states
    finished: dict[int, int] = {}
    for (study, _), (state, _, _) in claimed_trials(out / "studies.db").items():
        finished[study] = finished.get(study, 0) + (state in FINISHED)
    assert sorted(finished.values()) == [TRIALS, TRIALS]
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2  # one final run a loss
    for loss in ("ce", "focal"):
        rows = (out / "trials" / "blobs" / loss / "r0.csv").read_text().splitlines()[1:]
        assert sum(row.split(",")[1] in FINISHED for row in rows) == TRIALS
        assert json.loads((out / "trials" / "blobs" / loss / "r0.json").read_text())["trials"] \
            == TRIALS
    from lossbench.report.load import load_results

    assert len(load_results(out).runs) == 2  # the folder reads whole (trials checked too)


PR_GET_PDEATHSIG = 2


@linux
def test_a_spawned_process_asks_for_sigterm_when_its_parent_dies():
    """What ``spawn`` hands ``subprocess.Popen``: the child reads back its parent-death signal."""
    code = ("import ctypes\nsig = ctypes.c_int(-1)\n"
            f"ctypes.CDLL(None, use_errno=True).prctl({PR_GET_PDEATHSIG}, ctypes.byref(sig))\n"
            "print(sig.value)")
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    tied = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, preexec_fn=workers._parent_death_signal())
    assert plain.stdout.strip() == "0"
    assert tied.stdout.strip() == str(int(signal.SIGTERM))


def test_elsewhere_nothing_is_asked(monkeypatch):
    monkeypatch.setattr(workers.sys, "platform", "darwin")
    assert workers._parent_death_signal() is None


DROPPED = """
import os, signal, sys, time, weakref
os.environ["LOSSBENCH_HELPER"] = "1"
from lossbench import cli

signal.signal(signal.SIGTERM, cli._terminated)
sys.unraisablehook = cli._dropped_terminated(sys.unraisablehook)


class Thing:
    pass


def callback(ref):  # the handler runs here, where Python drops what it raises
    os.kill(os.getpid(), signal.SIGTERM)


thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing
    print("dropped", flush=True)
    time.sleep(5)
    print("trained on", flush=True)
except cli.Terminated:
    print("stopped", flush=True)
"""


def test_a_sigterm_that_python_drops_is_sent_again_and_prints_nothing():
    """The SIGTERM handler may run in a weakref callback (1 try in 10 of the test above did),
    where Python drops ``Terminated`` with an "Exception ignored" traceback: a helper, which
    ignores later SIGTERMs, would then train on to the end of its share. It is sent again."""
    done = subprocess.run([sys.executable, "-c", DROPPED], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "dropped\nstopped\n", "")


def test_main_puts_the_unraisable_hook_back(capsys):
    hook = sys.unraisablehook
    assert main(["losses"]) == 0
    assert sys.unraisablehook is hook
