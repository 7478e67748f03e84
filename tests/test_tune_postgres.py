"""Distributed tuning against a real PostgreSQL server (``pg_server``: a throwaway cluster on
127.0.0.1): worker processes on one study reach exactly the requested number of finished trials,
no trial number twice, and a worker killed with SIGKILL mid-trial leaves a trial that the others'
heartbeat check fails and retries. The storage URL carries a password that must never leak."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from helpers.pg_server import PostgresServer, find_problem
from helpers.suites import blobs_suite
from lossbench.tuning.storage import open_storage
from lossbench.tuning.study import finished_trials, trials_frame

pytestmark = pytest.mark.slow

WORKER = str(Path(__file__).parent / "helpers" / "lossbench_worker.py")
TUNE = ["tune", "--dataset", "digits", "--profile", "exp", "--imbalance-ratio", "10",
        "--loss", "focal", "--epochs", "2", "--device", "cpu", "--threads", "1", "--no-progress",
        "--heartbeat-interval", "1", "--grace-period", "3"]
TARGET = 10
TINY_SUITE = blobs_suite(name="pg-tiny", losses=("ce", "focal"), trials=3, epochs=1, seeds=1,
                         startup_trials=1)


@pytest.fixture(scope="module")
def server():
    problem = find_problem()
    if problem:
        pytest.skip(f"no PostgreSQL server for this test: {problem}")
    with PostgresServer() as running:
        yield running


def start(args, env, **extra_env):
    return subprocess.Popen([sys.executable, WORKER, *args], env={**env, **extra_env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def wait_for(condition, what, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


_storages: dict[str, object] = {}


def load(server, name) -> optuna.Study:
    """The study, through one storage per server (each storage holds a connection pool)."""
    if server.url not in _storages:
        _storages[server.url] = open_storage(server.url)
    return optuna.load_study(study_name=name, storage=_storages[server.url])


def running_trial_of(server, name, pid):
    try:
        study = load(server, name)
    except KeyError:
        return None
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.user_attrs.get("worker", {}).get("pid") == pid and trial.intermediate_values:
            return trial
    return None


def assert_no_secret(server, texts, folder):
    for text in texts:
        assert server.password not in text
    for path in Path(folder).rglob("*"):
        if path.is_file():
            assert server.password.encode() not in path.read_bytes(), path


def test_workers_reach_exactly_the_target_and_a_killed_workers_trial_is_retried(
        server, tmp_path, capsys):
    env = {**os.environ, "LOSSBENCH_STORAGE": server.url}  # the URL never on a command line
    out = tmp_path / "out"
    args = [*TUNE, "--study", "pg-workers", "--trials", str(TARGET), "--out", str(out)]
    # The victim starts first and trains very slowly, so that it surely holds a trial mid-way.
    victim = start(args, env, LOSSBENCH_TEST_EPOCH_SLEEP="60")
    killed = wait_for(lambda: running_trial_of(server, "pg-workers", victim.pid),
                      "the victim's first epoch")
    # Then this machine's `--workers 2` (a parent and a helper it starts) and a worker that
    # stands for another machine; all three join the study while the victim is alive.
    parent = start([*args, "--workers", "2"], env, LOSSBENCH_TEST_EPOCH_SLEEP="0.2")
    other = start(args, env, LOSSBENCH_TEST_EPOCH_SLEEP="0.2")
    wait_for(lambda: {parent.pid, other.pid} <= {t.user_attrs.get("worker", {}).get("pid") for t
                                                  in load(server, "pg-workers").get_trials()},
             "a trial of each of the two workers")
    victim.send_signal(signal.SIGKILL)  # mid-trial: no handler runs, the trial stays RUNNING
    victim.communicate(timeout=30)
    outputs = [process.communicate(timeout=180) for process in (parent, other)]
    assert victim.returncode == -signal.SIGKILL
    assert parent.returncode == 0, outputs[0]
    assert other.returncode == 0, outputs[1]

    study = load(server, "pg-workers")
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    finished = finished_trials(study)
    duplicates = server.query(
        "SELECT t.number, count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
        "WHERE s.study_name = %s GROUP BY t.number HAVING count(*) > 1", "pg-workers")
    frame = trials_frame(study)
    dead = frame[frame.number == killed.number].iloc[0]
    retries = [t for t in finished if t.system_attrs.get("failed_trial") == killed.number]
    surplus = [t for t in trials if t.state.name == "FAIL" and "surplus" in t.user_attrs]
    lost = [t for t in trials if t.state.name in ("RUNNING", "WAITING")
            or (t.state.name == "FAIL" and t not in surplus and t.number != killed.number)]
    workers = {t.user_attrs["worker"]["pid"] for t in trials if "worker" in t.user_attrs}
    complete = [t.value for t in finished if t.state.name == "COMPLETE"]

    assert len(finished) == TARGET
    assert duplicates == [] and len({t.number for t in trials}) == len(trials)
    assert lost == []
    # Found by the survivors' heartbeat check, or by the process table of a worker that started
    # on this machine after the kill (the parent's helper may): both fail it and queue a retry.
    assert dead.state == "FAIL"
    assert dead.failed_reason.startswith(("no heartbeat", f"worker process {victim.pid} on"))
    assert len(retries) == 1 and retries[0].params == killed.params
    assert study.best_value == max(complete) == study.best_trial.value
    assert len(workers) >= 3  # victim, parent, the other machine (and the helper, if in time)
    printed = outputs[0][0]
    assert f"{TARGET} finished trials" in printed and f"{study.best_value:.4f}" in printed
    assert_no_secret(server, [text for pair in outputs for text in pair], out)

    figures = {"worker_processes": 4, "workers_with_trials": len(workers),
               "trials_finished": len(finished),
               "duplicates": len(duplicates), "lost": len(lost), "surplus_failed": len(surplus),
               "killed_trial": killed.number, "retried_as": retries[0].number,
               "retry_state": retries[0].state.name, "killed_trial_failed_by": (
                   "heartbeat" if dead.failed_reason.startswith("no heartbeat")
                   else "process table"), "best_value": study.best_value,
               "states": {s: states.count(s) for s in sorted(set(states))}}
    with capsys.disabled():
        print(f"\nPostgreSQL distributed tuning: {json.dumps(figures)}")


def test_a_suite_runs_with_a_helper_on_postgres_and_the_password_stays_out(
        server, tmp_path, monkeypatch, capfd):
    from lossbench.cli import main

    suite, out = tmp_path / "pg-tiny.toml", tmp_path / "out"
    suite.write_text(TINY_SUITE)
    monkeypatch.setenv("LOSSBENCH_STORAGE", server.url)
    assert main(["run", str(suite), "--out", str(out), "--device", "cpu", "--threads", "1",
                 "--no-progress", "--no-report", "--workers", "2"]) == 0
    stdout, stderr = capfd.readouterr()  # the helper process's output too
    for loss in ("ce", "focal"):
        record = json.loads((out / "trials" / "blobs" / loss / "r0.json").read_text())
        study = load(server, record["study"])
        assert len(finished_trials(study)) == 3
        assert record["storage"] == f"postgresql://bench:***@127.0.0.1:{server.port}/lossbench"
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2
    environment = json.loads((out / "environment.json").read_text())
    assert environment["storage"].startswith("postgresql://bench:***@")
    assert_no_secret(server, [stdout, stderr], out)


def test_a_wrong_password_is_one_message_without_the_password(server, tmp_path, capsys):
    from lossbench.cli import main

    wrong = server.url.replace(server.password, "not-" + server.password)
    assert main([*TUNE, "--trials", "1", "--storage", wrong, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lossbench: error: cannot open storage postgresql://bench:***@")
    assert "authentication failed" in error and server.password not in error
    assert len(error.strip().splitlines()) == 1
