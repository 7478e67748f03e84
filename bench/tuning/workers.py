"""Workers: who runs a trial, whether that process still lives, and ``--workers N`` on one machine.

Every trial records its worker in the user attribute ``worker`` (host, process id and the
process's start time). A trial left RUNNING by a process of *this* machine that no longer lives
(killed with SIGKILL, out of memory, power cut and reboot) is marked FAIL and queued again with
the same parameters at once, without waiting for a heartbeat: when a worker starts (a resumed
single process first of all), and between trials on a journal file, which has no heartbeat.
Trials of other machines are left to the heartbeat of the database storage. A trial that no
worker claimed within the grace period (its process died the instant after creating it) is
failed the same way on any storage.

``spawn`` starts extra worker processes (``lossbench tune --workers``: each joins the same study;
``lossbench run --workers``: each takes its share of the suite's studies); ``stop_all`` ends them
when their parent stops early (an error, Ctrl-C, SIGTERM), so none runs on orphaned to the end
of the suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import optuna
from lossbench.signals import ignored
from lossbench.tuning import storage
from optuna.trial import TrialState

WORKER_ATTR = "worker"
HELPER_ENV = "LOSSBENCH_HELPER"
"""Set in a helper's environment: a helper stopped by SIGTERM exits without a line (its parent
prints the one line the user sees) and ignores a second SIGTERM (``lossbench.cli``)."""
STOP_SECONDS = 10.0
"""How long stopped helpers get to end their trial cleanly before they are killed."""
STORAGE_ENV = "LOSSBENCH_STORAGE"
"""Environment variable holding the storage URL: how the parent hands it to its workers (a
password never shows in ``ps``), and a default for ``--storage`` that keeps it out of shell
history."""


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


@lru_cache(maxsize=1)
def machine() -> str:
    """This machine, as precisely as the system tells: host name, boot id and PID namespace
    (two containers with one host name are two machines here; after a reboot, so is this one)."""
    parts = [socket.gethostname(), _read("/proc/sys/kernel/random/boot_id") or ""]
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("")
    return "/".join(parts)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); None where unknown."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22 of proc(5), counted after the name


def identity() -> dict:
    """This process as a worker: machine, pid and start time (a reused pid is another process)."""
    pid = os.getpid()
    return {"machine": machine(), "host": socket.gethostname(), "pid": pid,
            "started": _start_time(pid)}


def is_dead_here(worker: object) -> bool:
    """True when ``worker`` ran on this machine and its process is gone (or is another process
    now, by its start time). Workers of other machines are never declared dead here."""
    if not isinstance(worker, dict) or worker.get("machine") != machine():
        return False
    pid = worker.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    started = worker.get("started")
    return started is not None and _start_time(pid) not in (None, started)


def fail_dead_trials(study: optuna.Study, retry, unclaimed_after: float,
                     local: bool = True,
                     trials: list[optuna.trial.FrozenTrial] | None = None) -> list[int]:
    """Mark FAIL every RUNNING trial whose worker is known dead, queue it again with the same
    parameters (``retry``, Optuna's retry callback) and return their numbers.

    Known dead: with ``local``, a worker process of this machine that is gone; always, a trial
    that no worker claimed within ``unclaimed_after`` seconds of its start (its process died
    between creating it and recording itself, a window of milliseconds that a heartbeat may
    not cover either).

    ``trials``: the study's trials as just read (``study.get_trials``), to spare a read.
    """
    failed = []
    now = datetime.now()
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in trials:
        if trial.state != TrialState.RUNNING:
            continue
        worker = trial.user_attrs.get(WORKER_ATTR)
        if worker is None:
            started = trial.datetime_start
            if started is None or (now - started).total_seconds() <= unclaimed_after:
                continue
            reason = f"no worker claimed it within {unclaimed_after:g} s (its worker died)"
        elif local and is_dead_here(worker):
            reason = (f"worker process {worker.get('pid')} on {worker.get('host')} died "
                      "(found from the process table)")
        else:
            continue
        if not storage.fail_trial(study, trial, reason):
            continue  # another worker failed it first
        failed.append(trial.number)
        if retry is not None:
            retry(study, storage.frozen_trial(study, trial))
    return failed


def spawn(argvs: list[list[str]], storage_url: str) -> list[subprocess.Popen]:
    """Start one process of ``lossbench argv`` for each of ``argvs``; the storage URL goes by
    environment. Interrupted half-way, it stops those already started.

    Helpers start with SIGINT ignored (kept across exec; Python then raises no KeyboardInterrupt
    in them): Ctrl-C at a terminal reaches the whole process group, and the parent alone answers
    it, stopping its helpers with SIGTERM, so that one line is printed and no helper is caught
    in its startup. SIGTERM of a whole process group still reaches them.

    A parent that dies without stopping them (SIGKILL, out of memory) leaves none running on
    orphaned: on Linux each helper asks the kernel, between fork and exec, for SIGTERM when its
    parent dies (``prctl(PR_SET_PDEATHSIG)``, kept across exec), and so takes the clean SIGTERM
    path (its trial failed, nothing printed; a rerun resumes). The kernel ties that signal to
    the *thread* that forked: ``spawn`` is called from the command's main thread, and the
    helpers are waited for and reaped in that same thread (``pipeline.setup.helpers``), so it
    outlives them. Elsewhere (macOS, Windows) nothing is asked: helpers of a SIGKILLed parent
    run on to the end of their share, as before."""
    env = {**os.environ, STORAGE_ENV: storage_url, HELPER_ENV: "1"}
    processes: list[subprocess.Popen] = []
    tie = _parent_death_signal()
    try:
        with _sigint_ignored():
            for argv in argvs:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "lossbench.cli", *argv], env=env,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=tie))  # noqa: PLW1509 (it calls one C function: see its docstring)
    except BaseException:
        stop_all(processes)
        raise
    return processes


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` that makes the child receive SIGTERM when this process (the
    thread that forks it) dies, and exits the child at once when this process is gone already
    (it died between the fork and the ``prctl``, which would then never fire). None elsewhere,
    or where libc's ``prctl`` cannot be found: nothing is asked.

    Everything is looked up here, before the fork: the child only calls the C function and
    compares two numbers (no import, no lock another thread might hold)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    option, signum, zero = (ctypes.c_ulong(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM),
                            ctypes.c_ulong(0))

    def tie() -> None:  # runs in the child, between fork and exec
        prctl(option, signum, zero, zero, zero)
        if os.getppid() != parent:  # the parent died before the prctl: no signal will come
            os._exit(0)

    return tie


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored by the processes started in the block; here a Ctrl-C meanwhile is blocked
    on this thread, so mostly held back rather than lost (Linux keeps a blocked signal pending)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with ignored(signal.SIGINT):
            yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def stop_all(processes: list[subprocess.Popen], seconds: float = STOP_SECONDS) -> None:
    """SIGTERM every process still running, wait for all of them together at most ``seconds``,
    then SIGKILL the rest and reap them. SIGINT and SIGTERM are ignored meanwhile: this process is
    stopping already, and a second Ctrl-C must not cut the reaping short and leave helpers behind
    (blocking them would not do: another thread, torch's, may take the signal)."""
    with ignored(signal.SIGINT, signal.SIGTERM):
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + seconds
        for process in processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_all(processes: list[subprocess.Popen]) -> list[str]:
    """Wait for every process; a line for each that did not exit 0."""
    problems = []
    for process in processes:
        status = process.wait()
        if status != 0:
            how = f"was killed by signal {-status}" if status < 0 else f"exited with {status}"
            problems.append(f"worker process {process.pid} {how}")
    return problems
