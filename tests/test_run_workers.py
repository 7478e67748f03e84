"""``lossbench run --workers N``: each process runs its share of the suite's studies, from first
trial to final runs, so the results are those of one process; a helper that fails leaves its
share to the parent, which finishes it."""

import contextlib
import json

import pytest
from lossbench.cli import main
from lossbench.pipeline import suite_run
from lossbench.pipeline.shares import Share, units

from tests.helpers.suites import blobs_suite

pytestmark = pytest.mark.slow

SUITE = blobs_suite(name="shares", losses=("ce", "focal", "logit_adjusted"), baselines=True,
                    trials=3, epochs=2, replicates=2, seeds=1, startup_trials=1,
                    prune_warmup_epochs=1)
RUNS = 2 * 5  # 2 replicates x (3 losses + ce+posthoc + ce+balanced_sampling)


def _runs(out):
    """Every stored run by (dataset, loss, replicate, seed): its parameters and scores."""
    found = {}
    for line in (out / "runs.jsonl").read_text().splitlines():
        run = json.loads(line)
        found[(run["dataset"], run["loss"], run["replicate"], run["seed"])] = (
            run["params"], run["val_macro_f1"], run["test"]["summary"], run["history"])
    return found


def _run(suite, out, workers):
    return main(["run", str(suite), "--out", str(out), "--device", "cpu", "--threads", "1",
                 "--no-progress", "--no-report", "--workers", str(workers)])


def test_shares_cover_every_unit_once():
    from lossbench.config.suite import parse_suite

    suite = parse_suite(SUITE, "shares.toml")
    every = units(suite, Share())
    parts = [units(suite, Share(index, 3)) for index in range(3)]
    for key, indexes in every.items():
        taken = sorted(i for part in parts for i in part.get(key, []))
        assert taken == indexes == list(range(len(suite.trained)))
    sizes = [sum(map(len, part.values())) for part in parts]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_a_bad_share_is_refused(text):
    from lossbench.errors import UserError

    with pytest.raises(UserError, match=f"--share must be K/N with 0 <= K < N, got '{text}'"):
        Share.parse(text)


def test_two_workers_store_what_one_stores(tmp_path):
    suite = tmp_path / "shares.toml"
    suite.write_text(SUITE)
    assert _run(suite, tmp_path / "one", 1) == 0
    assert _run(suite, tmp_path / "two", 2) == 0
    one, two = _runs(tmp_path / "one"), _runs(tmp_path / "two")
    assert len(one) == RUNS and one == two
    # the helper process ran trials of its own studies, and no study was shared by two processes
    import optuna

    url = f"sqlite:///{tmp_path / 'two' / 'studies.db'}"
    pids = [{t.user_attrs["worker"]["pid"] for t in optuna.load_study(study_name=name,
                                                                       storage=url).trials}
            for name in optuna.get_all_study_names(url)]
    assert len(pids) == 2 * 4 and all(len(p) == 1 for p in pids), pids
    assert len(set().union(*pids)) == 2

def test_a_failed_helpers_share_is_finished_by_the_parent(tmp_path, monkeypatch, capsys):
    @contextlib.contextmanager
    def failing(argvs, storage_url, problems):
        yield  # no helper starts: as if each died at once
        problems.extend(f"worker process {100 + i} exited with 1" for i, _ in enumerate(argvs))

    monkeypatch.setattr(suite_run, "helpers", failing)
    suite = tmp_path / "shares.toml"
    suite.write_text(SUITE)
    assert _run(suite, tmp_path / "out", 2) == 0
    assert len(_runs(tmp_path / "out")) == RUNS
    err = capsys.readouterr().err
    assert "worker process 100 exited with 1" in err
    assert "finishing the helpers' unfinished studies here" in err


def test_processes_on_a_cpu_share_its_cores(monkeypatch):
    """N worker processes get the cores divided among them (at least one thread each), not one
    OpenMP thread per core each (N times oversubscribed); a single process keeps torch's choice."""
    import os

    from lossbench.pipeline.setup import threads_per_process

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert threads_per_process(1) is None
    assert [threads_per_process(n) for n in (2, 3, 4, 8, 16)] == [4, 2, 2, 1, 1]
