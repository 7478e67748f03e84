"""One trial outside ``study.optimize`` (``lossbench.tuning.one_trial``): what it stores equals what
``study.optimize(n_trials=1)`` stores, the claim carries the first heartbeat, and the stale-trial
check runs at most once a heartbeat interval."""

import math

import optuna
import pytest
from lossbench.tuning import storage, workers
from lossbench.tuning.one_trial import StaleCheck, run_one
from lossbench.tuning.storage import open_storage, write_trial_records
from optuna.trial import TrialState

pytestmark = pytest.mark.filterwarnings(
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize")


class Boom(Exception):
    pass


def objectives():
    def complete(trial):
        return trial.suggest_float("x", 0, 1)

    def pruned(trial):
        trial.suggest_float("x", 0, 1)
        trial.report(0.25, 0)
        raise optuna.TrialPruned("pruned here")

    def nan(trial):
        trial.suggest_float("x", 0, 1)
        return math.nan

    def fails(trial):
        trial.suggest_float("x", 0, 1)
        trial.set_user_attr("before", 1)
        raise Boom("no")

    return [complete, pruned, nan, fails]


def record(study):
    return [(t.number, t.state, t.values, t.params, t.intermediate_values, t.user_attrs)
            for t in study.get_trials()]


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_trial_is_stored_as_optimize_stores_it(tmp_path, kind):
    def url(name):
        return (f"sqlite:///{tmp_path / name}.db" if kind == "sqlite"
                else f"journal:{tmp_path / name}.journal")

    ours = optuna.create_study(storage=open_storage(url("ours")),
                               sampler=optuna.samplers.RandomSampler(seed=3))
    theirs = optuna.create_study(storage=open_storage(url("theirs")),
                                 sampler=optuna.samplers.RandomSampler(seed=3))
    for objective in objectives():
        if objective.__name__ == "fails":
            with pytest.raises(Boom):
                run_one(ours, objective)
            with pytest.raises(Boom):
                theirs.optimize(objective, n_trials=1)
        else:
            run_one(ours, objective)
            theirs.optimize(objective, n_trials=1)
    assert record(ours) == record(theirs)
    assert [t.state for t in ours.get_trials()] == [
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL]
    run_one(ours, objectives()[-1], catch=(Boom,))  # caught: told FAIL, not raised
    assert ours.get_trials()[-1].state == TrialState.FAIL


def test_the_claim_records_the_first_heartbeat_in_the_same_call(tmp_path):
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 's.db'}",
                                                     heartbeat_interval=1, grace_period=2))
    trial = study.ask()
    assert storage.heartbeat_interval(study) == 1
    assert study._storage._get_stale_trial_ids(study._study_id) == []  # no heartbeat: not stale
    write_trial_records(study, trial._trial_id, {}, {workers.WORKER_ATTR: {"pid": 1}},
                        heartbeat=True)
    backend = study._storage._backend
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    with _create_scoped_session(backend.scoped_session) as session:
        first = models.TrialHeartbeatModel.where_trial_id(trial._trial_id, session).heartbeat
    write_trial_records(study, trial._trial_id, {}, {}, heartbeat=True)  # a second one updates
    with _create_scoped_session(backend.scoped_session) as session:
        rows = session.query(models.TrialHeartbeatModel).all()
        assert [r.trial_id for r in rows] == [trial._trial_id] and rows[0].heartbeat >= first
    assert study.trials[0].user_attrs == {workers.WORKER_ATTR: {"pid": 1}}


def test_stale_trials_are_checked_once_an_interval(tmp_path, monkeypatch):
    calls = []
    real = optuna.storages.fail_stale_trials
    monkeypatch.setattr(optuna.storages, "fail_stale_trials",
                        lambda study: calls.append(study) or real(study))
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 's.db'}",
                                                     heartbeat_interval=30, grace_period=60))
    assert StaleCheck(study)() and len(calls) == 1
    assert not StaleCheck(study)() and len(calls) == 1  # within the interval: shared, skipped
    assert StaleCheck(study)(now=True) and len(calls) == 2
    journal = optuna.create_study(storage=open_storage(f"journal:{tmp_path / 'j.journal'}"))
    assert not StaleCheck(journal)(now=True) and len(calls) == 2  # no heartbeat on a journal
