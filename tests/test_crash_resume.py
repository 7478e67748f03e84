"""Crash safety: ``lossbench tune`` and ``lossbench run`` killed with SIGKILL (no handler runs) and
started again finish without repeating a finished trial or a stored final run, and give what an
uninterrupted run with the same seeds gives. The kills come from ``lossbench_worker.py``: the
process sends itself SIGKILL after the first epoch of its N-th training."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers.suites import blobs_suite
from lossbench.cli import main
from lossbench.evaluation import final
from lossbench.tuning import study as tuning_study
from lossbench.tuning import trials as tuning_trials
from lossbench.tuning.storage import open_storage

pytestmark = pytest.mark.slow

WORKER = str(Path(__file__).parent / "helpers" / "lossbench_worker.py")
TUNE = ["tune", "--dataset", "digits", "--profile", "exp", "--imbalance-ratio", "10",
        "--loss", "focal", "--epochs", "2", "--device", "cpu", "--threads", "1", "--no-progress"]
SUITE = blobs_suite(name="crash", losses=("ce", "focal"), counts=(80, 30, 8), trials=3, epochs=2,
                    seeds=2, batch_size=32, startup_trials=1, prune_warmup_epochs=1)
TIMES = ("train_seconds", "eval_seconds", "seconds")


@pytest.fixture
def trainings(monkeypatch):
    """Every training started in this process: ("trial", params) or ("final", seed)."""
    calls = []
    for module, kind in ((tuning_trials, "trial"), (final, "final")):
        original = module.train

        def counted(data, recipe, seed, device, *args, _original=original, _kind=kind, **kwargs):
            calls.append((_kind, recipe.lr if _kind == "trial" else seed))
            return _original(data, recipe, seed, device, *args, **kwargs)

        monkeypatch.setattr(module, "train", counted)
    return calls


def killed_run(args, kill_at, **env):
    """``lossbench ARGS`` in a process that SIGKILLs itself in its ``kill_at``-th training."""
    result = subprocess.run([sys.executable, WORKER, *args], capture_output=True, text=True,
                            env={**os.environ, "LOSSBENCH_TEST_KILL_AT": str(kill_at), **env},
                            stdin=subprocess.DEVNULL, timeout=300, check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    return result


def the_study(storage: str) -> optuna.Study:
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def test_a_killed_tune_resumes_without_repeating_trials(tmp_path, trainings, capsys):
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    killed_run([*TUNE, "--trials", "5", "--out", str(killed)], kill_at=3)
    storage = f"sqlite:///{killed / 'studies.db'}"
    states = [t.state.name for t in the_study(storage).get_trials()]
    assert states == ["COMPLETE", "COMPLETE", "RUNNING"]  # the third trial died mid-way
    before = [(t.number, t.params, t.value) for t in tuning_study.finished_trials(the_study(storage))]

    assert main([*TUNE, "--trials", "5", "--out", str(killed)]) == 0
    assert "3 run now" in capsys.readouterr().out
    assert len(trainings) == 3  # the dead trial once more, and two new ones; none repeated
    study = the_study(storage)
    finished = tuning_study.finished_trials(study)
    assert len(finished) == 5 and [(t.number, t.params, t.value) for t in finished[:2]] == before
    dead = study.trials[2]
    assert dead.state.name == "FAIL" and "died" in dead.user_attrs["failed_reason"]
    assert finished[2].system_attrs["failed_trial"] == 2 and finished[2].params == dead.params
    assert [t.state.name for t in study.get_trials()].count("RUNNING") == 0

    assert main([*TUNE, "--trials", "5", "--out", str(straight)]) == 0
    uninterrupted = tuning_study.finished_trials(the_study(f"sqlite:///{straight / 'studies.db'}"))
    assert [(t.params, t.value) for t in uninterrupted] == [(t.params, t.value) for t in finished]


def _runs(folder: Path) -> list[dict]:
    runs = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    return [{k: v for k, v in run.items() if k not in TIMES} for run in runs]


def test_a_killed_run_resumes_and_reports_what_an_uninterrupted_run_does(tmp_path, trainings):
    suite = tmp_path / "crash.toml"
    suite.write_text(SUITE)
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    args = ["run", str(suite), "--device", "cpu", "--threads", "1", "--no-progress"]
    # 3 + 3 trials, then 2 + 2 final runs. First kill: in focal's second trial.
    killed_run([*args, "--out", str(killed)], kill_at=5)
    assert not (killed / "runs").exists()
    # Second kill: the dead trial is retried, focal's last trial runs, ce's first final run is
    # stored, and the process dies in ce's second final run.
    killed_run([*args, "--out", str(killed)], kill_at=4)
    stored = sorted(p.relative_to(killed) for p in (killed / "runs").rglob("*.json"))
    assert stored == [Path("runs/blobs/ce/r0-seed1000.json")]
    first_run = (killed / stored[0]).read_bytes()

    assert main([*args, "--out", str(killed)]) == 0
    assert trainings == [("final", 1001), ("final", 1000), ("final", 1001)]  # nothing redone
    assert (killed / stored[0]).read_bytes() == first_run
    for loss in ("ce", "focal"):
        record = json.loads((killed / "trials" / "blobs" / loss / "r0.json").read_text())
        study = optuna.load_study(study_name=record["study"],
                                  storage=open_storage(f"sqlite:///{killed / 'studies.db'}"))
        assert len(tuning_study.finished_trials(study)) == 3
        assert [t.state.name for t in study.get_trials()].count("RUNNING") == 0

    trainings.clear()
    assert main([*args, "--out", str(straight)]) == 0
    assert len(trainings) == 3 + 3 + 2 + 2
    assert _runs(killed) == _runs(straight)
    pd.testing.assert_frame_equal(pd.read_csv(killed / "per_class.csv"),
                                  pd.read_csv(straight / "per_class.csv"))
    for table in ("blobs_summary", "blobs_per_class", "blobs_per_class_f1",
                  "blobs_class_delta_focal_vs_ce"):
        pd.testing.assert_frame_equal(pd.read_csv(killed / "tables" / f"{table}.csv"),
                                      pd.read_csv(straight / "tables" / f"{table}.csv"))
    params = [pd.read_csv(folder / "tables" / "blobs_params.csv")
              for folder in (killed, straight)]
    pd.testing.assert_frame_equal(*params)
    # The whole report, once the wall times and the two folders' names are set aside.
    reports = [re.sub(r"\d+(\.\d+)? s\b", "# s", (folder / "report.md").read_text())
               .replace(str(folder), "FOLDER") for folder in (killed, straight)]
    assert reports[0] == reports[1]


def test_a_worker_that_dies_beside_a_running_one_on_a_journal_file_is_retried(tmp_path):
    """A journal file has no heartbeat: the live worker finds the dead one in the process table
    between trials, fails its trial and runs it again; the study ends with exactly the target."""
    journal = f"journal:{tmp_path / 'studies.journal'}"
    args = [*TUNE, "--trials", "4", "--storage", journal, "--study", "j", "--out", str(tmp_path)]
    env = {**os.environ}
    victim = subprocess.Popen([sys.executable, WORKER, *args], stdin=subprocess.DEVNULL,
                              env={**env, "LOSSBENCH_TEST_EPOCH_SLEEP": "60"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    storage = open_storage(journal)

    def trials():
        try:
            return optuna.load_study(study_name="j", storage=storage).get_trials()
        except KeyError:
            return []

    def wait_for(condition, what):
        deadline = time.monotonic() + 90
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    wait_for(lambda: any(t.user_attrs.get("worker", {}).get("pid") == victim.pid
                         and t.intermediate_values for t in trials()), "the victim's epoch")
    live = subprocess.Popen([sys.executable, WORKER, *args], stdin=subprocess.DEVNULL,
                            env={**env, "LOSSBENCH_TEST_EPOCH_SLEEP": "0.3"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(t.user_attrs.get("worker", {}).get("pid") == live.pid
                         for t in trials()), "the live worker's first trial")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    stdout, stderr = live.communicate(timeout=120)
    assert live.returncode == 0, stderr
    study = optuna.load_study(study_name="j", storage=storage)
    (dead,) = [t for t in study.get_trials() if t.state.name == "FAIL"]
    assert "found from the process table" in dead.user_attrs["failed_reason"]
    finished = tuning_study.finished_trials(study)
    assert len(finished) == 4 and len({t.number for t in study.get_trials()}) == len(study.trials)
    assert [t.params for t in finished if t.system_attrs.get("failed_trial") == dead.number] \
        == [dead.params]
    assert "4 finished trials (0 pruned, 1 failed)" in stdout
