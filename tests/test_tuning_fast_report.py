"""Scores kept in the worker (``lossbench.tuning.reports``): the pruning decided there equals
Optuna's own pruner on the same history, and the trials leave the same records as
``trial.report`` would (one intermediate value per epoch run, the pruned reason, the states)."""

import math

import optuna
import pytest
import torch
from helpers.suites import blobs_suite
from lossbench.config.suite import parse_suite
from lossbench.engine.data import train_val_view
from lossbench.pipeline import suite_run as runner
from lossbench.tuning import pruning
from lossbench.tuning import study as tuning_study
from lossbench.tuning import trials as tuning_trials
from lossbench.tuning.storage import open_storage, write_trial_records
from optuna.trial import TrialState, create_trial

HISTORY = [  # intermediate values of COMPLETE trials, step -> value
    {0: 0.20, 1: 0.40, 2: 0.50, 3: 0.60},
    {0: 0.30, 1: 0.35, 2: 0.45},
    {0: 0.10, 1: 0.50, 2: 0.55, 3: 0.70, 4: 0.72},
    {0: 0.25, 1: math.nan, 2: 0.40, 3: 0.65},
    {0: 0.50},
]
CASES = [  # the running trial's scores so far
    {}, {0: 0.05}, {0: 0.90}, {0: 0.22}, {0: 0.20, 1: 0.30}, {0: 0.20, 1: 0.45},
    {0: 0.1, 1: 0.2, 2: 0.3}, {0: 0.6, 1: 0.2, 2: 0.3}, {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.62},
    {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.1, 4: 0.71}, {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.1, 4: 0.73},
    {0: 0.1, 1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1, 5: 0.1}, {0: math.nan}, {0: math.nan, 1: 0.9},
    {0: 0.1, 2: 0.2}, {1: 0.36}, {0: -math.inf, 1: math.inf}, {0: 0.9, 1: 0.9, 2: 0.9},
]
PRUNERS = [
    {"n_startup_trials": 0, "n_warmup_steps": 0},
    {"n_startup_trials": 3, "n_warmup_steps": 1},
    {"n_startup_trials": 5, "n_warmup_steps": 2},
    {"n_startup_trials": 6, "n_warmup_steps": 0},
    {"n_startup_trials": 1, "n_warmup_steps": 0, "interval_steps": 2},
    {"n_startup_trials": 1, "n_warmup_steps": 1, "interval_steps": 3, "n_min_trials": 3},
]


def study_with_history(direction="maximize", history=HISTORY):
    study = optuna.create_study(direction=direction)
    x = optuna.distributions.FloatDistribution(0, 1)
    for number, values in enumerate(history):
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=max(values.values()),
                                     params={"x": number / 10}, distributions={"x": x},
                                     intermediate_values=values))
    study.add_trial(create_trial(state=TrialState.PRUNED, params={"x": 0.9},
                                 distributions={"x": x}, intermediate_values={0: 0.99, 1: 0.99}))
    return study


def running(values):
    return create_trial(state=TrialState.RUNNING, intermediate_values=values)


@pytest.mark.filterwarnings("ignore:All-NaN slice encountered")
@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("settings", PRUNERS)
def test_the_local_decision_is_optunas_median_pruner(settings, direction):
    study = study_with_history(direction)
    pruner = optuna.pruners.MedianPruner(**settings)
    rule = pruning.rule_of(pruner, maximize=direction == "maximize")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    local = pruning.LocalPruner(rule, complete)
    decisions = []
    for values in CASES:
        expected = pruner.prune(study, running(values))
        assert local.should_prune(values) == expected, (settings, direction, values)
        assert pruning.should_prune(rule, complete, values) == expected
        decisions.append(expected)
    if settings["n_startup_trials"] <= len(HISTORY):
        assert True in decisions and False in decisions  # the cases tell the rule apart


@pytest.mark.filterwarnings("ignore:All-NaN slice encountered")
def test_percentile_pruner_and_the_pruners_it_does_not_replace():
    study = study_with_history()
    pruner = optuna.pruners.PercentilePruner(25.0, n_startup_trials=2, n_warmup_steps=0)
    local = pruning.LocalPruner(pruning.rule_of(pruner),
                                study.get_trials(states=(TrialState.COMPLETE,)))
    for values in CASES:
        assert local.should_prune(values) == pruner.prune(study, running(values)), values
    nop = pruning.LocalPruner(pruning.rule_of(optuna.pruners.NopPruner()), [])
    assert not nop.should_prune({0: math.nan})
    assert pruning.rule_of(optuna.pruners.HyperbandPruner()) is None
    assert pruning.rule_of(optuna.pruners.SuccessiveHalvingPruner()) is None

    class Custom(optuna.pruners.MedianPruner):
        def prune(self, study, trial):
            return True

    assert pruning.rule_of(Custom()) is None


def test_no_complete_trial_never_prunes():
    study = study_with_history(history=[])
    pruner = optuna.pruners.MedianPruner(n_startup_trials=0)
    local = pruning.LocalPruner(pruning.rule_of(pruner), [])
    for values in CASES:
        assert not pruner.prune(study, running(values))
        assert not local.should_prune(values)


# ---- runs through run_trials -------------------------------------------------------------

SUITE = blobs_suite(trials=6, epochs=4, batch_size=32, startup_trials=2, prune_warmup_epochs=1)


@pytest.fixture(scope="module")
def plan_and_data():
    suite = parse_suite(SUITE, "fast-report")
    entry = suite.datasets[0]
    data = train_val_view(runner.load_prepared(entry, 0, None))
    return runner.plans_for(suite, entry, data)[0], data


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_trials_store_one_intermediate_value_per_epoch_run(tmp_path, plan_and_data, monkeypatch,
                                                           kind):
    """Every finished trial holds one value per epoch it ran, equal to the scores the training
    reported; pruned ones end at the epoch that pruned them, with the reason's format."""
    plan, data = plan_and_data
    reported = {}
    original = tuning_trials.train

    def train(data, recipe, seed, device, on_epoch=None):
        scores = reported.setdefault(recipe.lr, {})

        def epoch_done(epoch, score):
            scores[epoch] = score
            on_epoch(epoch, score)

        return original(data, recipe, seed, device, on_epoch=epoch_done)

    monkeypatch.setattr(tuning_trials, "train", train)
    url = (f"sqlite:///{tmp_path / 'studies.db'}" if kind == "sqlite"
           else f"journal:{tmp_path / 'studies.journal'}")
    study = tuning_study.open_study(plan, open_storage(url))
    assert tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=6) == 6
    reloaded = optuna.load_study(study_name=study.study_name, storage=open_storage(url))
    frame = tuning_study.trials_frame(reloaded)
    assert list(frame.number) == list(range(6))
    for trial, row in zip(reloaded.get_trials(), frame.itertuples()):
        assert trial.state.name in ("COMPLETE", "PRUNED")
        if "repeat_of" in trial.user_attrs:
            continue
        scores = reported[trial.params["lr"]]
        assert trial.intermediate_values == scores  # same steps, same values, each once
        assert row.epochs_run == len(scores)
        if trial.state == TrialState.COMPLETE:
            assert row.epochs_run == plan.budget.epochs and "train_seconds" in trial.user_attrs
            assert trial.value == max(scores.values())
        else:
            epoch = max(scores)
            assert row.pruned_reason == (f"median pruner after epoch {epoch} (validation "
                                         f"macro-F1 {scores[epoch]:.4f})")
            assert trial.value == scores[epoch]  # Optuna's value of a pruned trial: its last


def test_pruning_in_a_run_matches_optunas_pruner_on_the_stored_history(tmp_path, plan_and_data):
    """Replaying the stored study: each trial is pruned exactly where Optuna's MedianPruner,
    given the trials COMPLETE before it, would prune it."""
    plan, data = plan_and_data
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = tuning_study.open_study(plan, open_storage(url))
    tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=8)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=plan.budget.startup_trials,
                                         n_warmup_steps=plan.budget.prune_warmup_epochs)
    trials = study.get_trials()
    for index, trial in enumerate(trials):
        before = optuna.create_study(direction="maximize")
        for done in trials[:index]:
            before.add_trial(done)
        steps = sorted(trial.intermediate_values)
        if "repeat_of" in trial.user_attrs:
            continue
        for k, step in enumerate(steps):
            so_far = {s: trial.intermediate_values[s] for s in steps[:k + 1]}
            pruned_here = pruner.prune(before, running(so_far))
            last = k == len(steps) - 1
            assert pruned_here == (last and trial.state == TrialState.PRUNED), (trial.number, step)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_a_block_write_of_a_trial_finished_elsewhere_is_refused(tmp_path):
    for url in (f"sqlite:///{tmp_path / 'studies.db'}", f"journal:{tmp_path / 'j.journal'}"):
        study = optuna.create_study(storage=open_storage(url), direction="maximize")
        trial = study.ask()
        write_trial_records(study, trial._trial_id, {0: 0.1, 1: 0.2}, {"a": 1})
        assert study.trials[0].intermediate_values == {0: 0.1, 1: 0.2}
        assert study.trials[0].user_attrs == {"a": 1}
        study.tell(trial, state=TrialState.FAIL)
        with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
            write_trial_records(study, trial._trial_id, {2: 0.3})
        assert study.trials[0].intermediate_values == {0: 0.1, 1: 0.2}


def test_a_run_records_what_optunas_own_report_and_should_prune_record(tmp_path, plan_and_data,
                                                                        monkeypatch):
    """The same study run twice, once with the scores kept in the worker and once through
    Optuna's per-epoch ``trial.report``/``trial.should_prune``: the same trials table."""
    plan, data = plan_and_data

    def run(name):
        study = tuning_study.open_study(plan, open_storage(f"sqlite:///{tmp_path / name}"))
        tuning_trials.run_trials(study, plan, data, torch.device("cpu"), target=8)
        frame = tuning_study.trials_frame(study).drop(columns=["seconds"])
        trials = [(t.state, t.value, t.params, t.intermediate_values,
                   {k: v for k, v in t.user_attrs.items() if k not in ("worker", "train_seconds")})
                  for t in study.get_trials()]
        return frame, trials

    fast = run("fast.db")
    monkeypatch.setattr(pruning, "rule_of", lambda pruner, maximize=True: None)
    optunas = run("optuna.db")
    assert fast[1] == optunas[1]
    assert fast[0].equals(optunas[0])
    assert "PRUNED" in set(fast[0].state) and "COMPLETE" in set(fast[0].state)
