"""The rules that keep a shared study right, each checked on its own: exactly ``--trials``
finished when two workers start at once, a trial without heartbeat failed and retried, a
diverging trial stopped at once with its reason, and storage URLs whose password never shows."""

import math
import os
import subprocess
import sys
import threading
import time

import optuna
import pytest
import torch
import torch.nn.functional as F
from helpers.suites import blobs_suite
from lossbench.cli import main
from lossbench.config.suite import parse_suite
from lossbench.engine import train as engine_train
from lossbench.engine.data import train_val_view
from lossbench.pipeline import suite_run as runner
from lossbench.redaction import hide_secrets, redact
from lossbench.tuning import study as tuning_study
from lossbench.tuning import trials as tuning_trials
from lossbench.tuning import workers as tune_workers
from lossbench.tuning.storage import open_storage

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize")]

SUITE = blobs_suite(trials=2, epochs=2, batch_size=32, startup_trials=1, prune_warmup_epochs=1)
TUNE = ["tune", "--dataset", "digits", "--profile", "exp", "--imbalance-ratio", "10",
        "--loss", "focal", "--epochs", "2", "--device", "cpu", "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread here (conftest's restore_threads puts the count back)."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def plan_and_data():
    suite = parse_suite(SUITE, "tiny")
    entry = suite.datasets[0]
    data = train_val_view(runner.load_prepared(entry, 0, None))
    return runner.plans_for(suite, entry, data)[0], data


@pytest.fixture
def trainings(monkeypatch):
    calls = []
    original = tuning_trials.train
    monkeypatch.setattr(tuning_trials, "train", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    return calls


def test_two_workers_passing_the_count_together_give_exactly_the_target(
        tmp_path, plan_and_data, trainings, monkeypatch):
    """Worker B counts 2 finished of 3 and starts a trial; worker A started one in the same
    instant. B's trial has the higher number, so it is the surplus: failed before it trains."""
    plan, data = plan_and_data
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = tuning_study.open_study(plan, open_storage(url))
    assert tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=2) == 2
    other = optuna.load_study(study_name=study.study_name, storage=open_storage(url))
    sampler = tuning_study.sampler_for

    def worker_a_starts_too(plan, finished):
        monkeypatch.setattr(tuning_trials, "sampler_for", sampler)
        trial = other.ask()  # worker A, alive (this test's parent process) on this machine
        trial.set_user_attr("worker", {**tune_workers.identity(), "pid": os.getppid(),
                                       "started": None})
        threading.Timer(1.0, lambda: other.tell(trial, 0.5)).start()
        return sampler(plan, finished)

    monkeypatch.setattr(tuning_trials, "sampler_for", worker_a_starts_too)
    ran = tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=3, poll_seconds=0.2)
    states = [t.state.name for t in study.get_trials()]
    assert ran == 0 and len(trainings) == 2
    assert states[3] == "FAIL" and all(state in ("COMPLETE", "PRUNED") for state in states[:3])
    surplus = study.trials[3]
    assert "surplus" in surplus.user_attrs and not surplus.params
    assert tuning_study.trials_frame(study).failed_reason[3].startswith("the study already had 3 trials")


def test_a_trial_without_heartbeat_is_failed_and_retried_with_its_parameters(
        tmp_path, plan_and_data):
    """A worker on another machine stops sending heartbeats (the process table cannot see it):
    after the grace period the next worker fails its trial and runs a copy."""
    plan, data = plan_and_data
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    storage = open_storage(url, heartbeat_interval=1, grace_period=2)
    study = tuning_study.open_study(plan, storage)
    elsewhere = optuna.load_study(study_name=study.study_name, storage=storage)
    trial = elsewhere.ask()
    params = {"lr": trial.suggest_float("lr", *plan.optim.lr, log=True),
              "weight_decay": trial.suggest_float("weight_decay", *plan.optim.weight_decay,
                                                  log=True)}
    trial.set_user_attr("worker", {"machine": "another/machine/1", "host": "elsewhere",
                                   "pid": 4242, "started": None})
    storage.record_heartbeat(trial._trial_id)
    time.sleep(2.5)
    assert tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=2) == 2
    trials = study.get_trials()
    assert trials[0].state.name == "FAIL" and len(tuning_study.finished_trials(study)) == len(trials) - 1
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert retry.state.name in ("COMPLETE", "PRUNED") and retry.params == params and retry.user_attrs["worker"]["pid"] == os.getpid()
    assert tuning_study.trials_frame(study).failed_reason[0].startswith("no heartbeat")


def test_a_dead_process_of_this_machine_is_told_from_a_live_one():
    me = tune_workers.identity()
    assert not tune_workers.is_dead_here(me)
    finished = subprocess.run([sys.executable, "-c", "pass"], check=True)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert finished.returncode == 0
    assert tune_workers.is_dead_here({**me, "pid": child.pid, "started": None})
    assert not tune_workers.is_dead_here({**me, "machine": "elsewhere", "pid": child.pid})
    reused = {**me, "pid": os.getppid(), "started": "1"}  # alive, but not the recorded process
    assert tune_workers.is_dead_here(reused) == (tune_workers._start_time(os.getppid())
                                                 not in (None, "1"))


class DivergesLater(torch.nn.Module):
    """Cross-entropy that turns ``value`` (NaN or inf) from its ``after``-th call on."""

    def __init__(self, value, after):
        super().__init__()
        self.value, self.after, self.calls = value, after, 0

    def forward(self, logits, target):
        self.calls += 1
        loss = F.cross_entropy(logits, target)
        return loss * self.value if self.calls > self.after else loss


def test_a_diverging_trial_stops_at_once_and_the_study_goes_on(tmp_path, monkeypatch, capsys):
    built = []
    original = engine_train.build_loss

    def build(name, **kwargs):
        # the second training turns inf at its fifth step; the others train normally
        module = DivergesLater(math.inf, after=4) if len(built) == 1 else original(name, **kwargs)
        built.append(module)
        return module

    monkeypatch.setattr(engine_train, "build_loss", build)
    assert main([*TUNE, "--trials", "3", "--out", str(tmp_path)]) == 0
    assert "3 finished trials (1 pruned)" in capsys.readouterr().out
    assert built[1].calls == 5  # the step whose loss was inf was the last one run
    frame = tuning_study.trials_frame(optuna.load_study(
        study_name=optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'studies.db'}")[0]
        .study_name, storage=f"sqlite:///{tmp_path / 'studies.db'}"))
    assert list(frame.state) == ["COMPLETE", "PRUNED", "COMPLETE"]
    reason = frame.pruned_reason[1]
    assert reason.startswith("diverged: loss became inf at epoch 0, step 4"), reason
    assert frame.epochs_run[1] == 0  # no epoch reported after the divergence


@pytest.mark.parametrize("url, shown", [
    ("postgresql://bench:s3cret@db.example:5432/optuna", "postgresql://bench:***@db.example:5432/optuna"),
    ("postgresql://bench:p@ss/w:rd@db/optuna", "postgresql://bench:***@db/optuna"),
    ("postgresql://db/optuna?user=bench&password=s3cret", "postgresql://db/optuna?user=bench&password=***"),
    ("postgresql://bench@db/optuna", "postgresql://bench@db/optuna"),
    ("sqlite:///results/x/studies.db", "sqlite:///results/x/studies.db"),
])
def test_a_storage_url_is_shown_without_its_password(url, shown):
    assert redact(url) == shown


def test_a_password_is_scrubbed_from_any_message_once_its_storage_was_named():
    url = "postgresql://bench:pa%40ss-9f1@127.0.0.1:1/optuna"
    with pytest.raises(ValueError) as error:
        open_storage(url)
    message = str(error.value)
    assert "pa%40ss-9f1" not in message and "pa@ss-9f1" not in message
    assert message.startswith("cannot open storage postgresql://bench:***@127.0.0.1:1/optuna")
    assert hide_secrets("a driver said pa@ss-9f1 and pa%40ss-9f1") == "a driver said *** and ***"


@pytest.mark.parametrize("when", ["mid-training", "after training"])
def test_a_live_worker_whose_trial_was_declared_dead_goes_on(tmp_path, plan_and_data,
                                                             monkeypatch, when):
    """A stalled worker's trial is failed by the others (no heartbeat in time); when the worker
    comes back, Optuna refuses its late result: it drops it and carries on with the study."""
    plan, data = plan_and_data
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = tuning_study.open_study(plan, open_storage(url))
    others = open_storage(url)
    original, calls = tuning_trials.train, []

    def declare_dead():
        (running,) = [t for t in others.get_all_trials(study._study_id)
                      if t.state.name == "RUNNING"]
        others.set_trial_state_values(running._trial_id, optuna.trial.TrialState.FAIL)

    def train(data, recipe, seed, device, on_epoch=None):
        calls.append(1)
        if len(calls) != 2:
            return original(data, recipe, seed, device, on_epoch=on_epoch)
        if when == "after training":
            result = original(data, recipe, seed, device, on_epoch=on_epoch)
            declare_dead()
            return result

        def epoch_done(epoch, score):
            declare_dead()
            on_epoch(epoch, score)

        return original(data, recipe, seed, device, on_epoch=epoch_done)

    monkeypatch.setattr(tuning_trials, "train", train)
    assert tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=2) == 2
    states = [t.state.name for t in study.get_trials()]
    assert states[1] == "FAIL" and {states[0], states[2]} <= {"COMPLETE", "PRUNED"}


def test_a_trial_its_worker_never_claimed_is_failed_after_the_grace_period(
        tmp_path, plan_and_data):
    """A worker killed between creating a trial and recording itself leaves a RUNNING trial with
    neither worker nor heartbeat: after the grace period it is failed and run again."""
    plan, data = plan_and_data
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = tuning_study.open_study(plan, open_storage(url))
    optuna.load_study(study_name=study.study_name, storage=url).ask()  # and then it died
    time.sleep(1.2)
    assert tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=2, grace_period=1) == 2
    trials = study.get_trials()
    assert trials[0].state.name == "FAIL" and len(tuning_study.finished_trials(study)) == 2
    assert trials[0].user_attrs["failed_reason"].startswith("no worker claimed it within 1 s")
