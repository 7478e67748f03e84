"""Signals: SIGTERM, or Ctrl-C, to ``lossbench run --workers 2`` stops its helper too, prints the one
"interrupted" line (no Optuna traceback, nothing from the helper), exits 128 + the signal and
leaves a state a rerun finishes, with every trial finished before the signal kept. Real
processes: what matters (a helper orphaned to PID 1, a handler in the wrong process, output of
two processes on one stderr) does not show in-process."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from helpers.processes import alive, children, claimed_trials
from helpers.suites import blobs_suite
from lossbench import cli
from lossbench.cli import main
from lossbench.tuning import workers

pytestmark = pytest.mark.slow

TRIALS = 6
SUITE = blobs_suite(name="signals", losses=("ce", "focal"), counts=(150, 80, 30), trials=TRIALS,
                    epochs=4, seeds=1, startup_trials=1, prune_warmup_epochs=4)
LINE = "lossbench: interrupted; finished work is kept and a rerun resumes"
FLAGS = ["--device", "cpu", "--threads", "1", "--no-report", "--no-progress"]


def _finished(trials: dict) -> dict:
    return {key: trial for key, trial in trials.items() if trial[0] in ("COMPLETE", "PRUNED")}


@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["sigterm-to-parent", "ctrl-c-to-process-group"])
def test_a_signal_stops_the_helpers_prints_one_line_and_a_rerun_finishes(tmp_path, signum, group):
    """SIGTERM as a supervisor sends it, to the parent only (it must stop the helper itself);
    SIGINT as Ctrl-C sends it, to the whole process group (the helper must stay quiet)."""
    suite, out = tmp_path / "signals.toml", tmp_path / "out"
    suite.write_text(SUITE)
    parent = subprocess.Popen([sys.executable, "-m", "lossbench.cli", "run", str(suite),
                               "--workers", "2", "--out", str(out), *FLAGS],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # the parent stored a trial and trains the next; the helper is started
            trials = claimed_trials(out / "studies.db")
            training = [t for t in trials.values() if t[0] == "RUNNING" and t[2] == parent.pid]
            helpers = children(parent.pid)
            if (_finished(trials) and training and helpers) or parent.poll() is not None \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert training and helpers and parent.poll() is None, parent.poll() or "no trial in time"
        before = _finished(trials)
        if group:
            os.killpg(parent.pid, signum)
        else:
            parent.send_signal(signum)
        _, err = parent.communicate(timeout=30)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
    assert parent.returncode == 128 + signum, err
    assert err.splitlines() == [LINE], err  # no traceback, no helper's line, no "worker exited"
    assert not [pid for pid in helpers if alive(pid)]

    # Wherever the signal found a process, even in Optuna's ``study.ask`` before its new trial
    # names its worker (``trials._signals_held_until_claimed``), no trial is left RUNNING: each
    # stopped trial was failed, so the rerun retries it at once instead of waiting out the grace
    # period of an unclaimed trial.
    with sqlite3.connect(f"file:{out / 'studies.db'}?mode=ro", uri=True, timeout=5) as connection:
        states = [state for (state,) in connection.execute("SELECT state FROM trials")]
    assert "RUNNING" not in states, states
    assert main(["run", str(suite), "--workers", "1", "--out", str(out), *FLAGS]) == 0
    after = _finished(claimed_trials(out / "studies.db"))
    assert all(after.get(key) == value for key, value in before.items())  # kept, not rerun
    counts = [sum(study == s for study, _ in after) for s in {study for study, _ in after}]
    assert counts == [TRIALS, TRIALS]
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2  # one final run a loss


def test_the_helper_marker_is_spelled_once():
    """``cli`` does not import ``workers`` (it would import torch at startup): same name both."""
    assert cli.HELPER_ENV == workers.HELPER_ENV


def test_a_helper_that_ignores_sigterm_is_killed_after_the_bounded_wait():
    """``stop_all`` never waits forever: a helper stuck in its cleanup is SIGKILLed and reaped."""
    code = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\ntime.sleep(60)")
    stuck = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert stuck.stdout.readline() == "ready\n"
    started = time.monotonic()
    workers.stop_all([stuck], seconds=0.5)
    assert stuck.returncode == -signal.SIGKILL and time.monotonic() - started < 5
    stuck.stdout.close()


def test_a_signal_before_the_trial_is_claimed_acts_once_it_is():
    """Ctrl-C while Optuna creates a trial (before it names its worker) is held, then raised when
    the guarded objective claims the trial, so Optuna fails that trial instead of leaving it
    RUNNING with no worker."""
    from lossbench.tuning.trials import _signals_held_until_claimed

    outcome: dict = {}
    steps = []
    with pytest.raises(KeyboardInterrupt), _signals_held_until_claimed(outcome):
        signal.raise_signal(signal.SIGINT)  # held: nothing raised here
        steps.append("held")
        outcome["release"]()  # the claim: the held signal acts now
        steps.append("after the claim")
    assert steps == ["held"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_held_signal_acts_when_the_trial_never_starts():
    from lossbench.tuning.trials import _signals_held_until_claimed

    with pytest.raises(KeyboardInterrupt), _signals_held_until_claimed({}):
        signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_interrupt_inside_the_connection_pool_logs_no_traceback(caplog):
    """SQLAlchemy logs "Exception during reset or similar" with a traceback when Ctrl-C or
    SIGTERM lands while its pool returns a connection; that record is dropped (the command prints
    its one line), while another pool error still shows."""
    import logging

    from lossbench.tuning.storage_engine import POOL_LOGGERS, quiet_interrupted_resets

    quiet_interrupted_resets()
    logger = logging.getLogger(POOL_LOGGERS[0])
    for error in (KeyboardInterrupt(), cli.Terminated("SIGTERM"), OSError("disk I/O error")):
        try:
            raise error
        except BaseException:
            logger.exception("Exception during reset or similar")
    shown = [record.exc_info[1] for record in caplog.records]
    assert [type(e) for e in shown] == [OSError]
