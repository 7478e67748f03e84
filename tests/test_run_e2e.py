"""A tiny suite end to end through the command line: tuning, final runs, report, rerun, rebuild.

The test split is watched: the prepared data is wrapped so that every read of ``x_test``,
``y_test``, ``oracle_test_pred`` or ``groups_test`` is recorded, with whether the final evaluation
was running and whether any tuning was still to come for that dataset.
"""

import json

import pandas as pd
import pytest
from lossbench.cli import main
from lossbench.evaluation import final
from lossbench.pipeline import suite_run as runner
from lossbench.tuning import trials as tuning_trials

pytestmark = pytest.mark.slow


SUITE = """
name = "tiny"
losses = ["ce", "focal", "ldam"]
[budget]
trials = 3
epochs = 3
batch_size = 32
replicates = 2
seeds = 1
startup_trials = 1
prune_warmup_epochs = 1
[[datasets]]
source = "digits"
profile = "exp"
imbalance_ratio = 10
[[datasets]]
name = "blobs"
source = "gaussian"
options = { counts = [200, 60, 12], dimension = 6 }
"""
TEST_FIELDS = {"x_test", "y_test", "oracle_test_pred", "groups_test"}
CLASSES = {"digits-exp10": 10, "blobs": 3}


class WatchedData:
    """Delegates to the prepared data; records reads of its test split in ``log``."""

    def __init__(self, data, log, state):
        self._data, self._log, self._state = data, log, state

    def __getattr__(self, name):
        if name in TEST_FIELDS:
            self._log.append((self._data.name, name, self._state["evaluating"],
                              self._state["tuning_done"].get(self._data.name, False)))
        return getattr(self._data, name)


@pytest.fixture
def watched(monkeypatch):
    log, state = [], {"evaluating": False, "tuning_done": {}}
    load, evaluate_on_test, tune_all = (runner.load_prepared, final.evaluate_on_test,
                                        runner.tune_all)

    def load_watched(entry, seed, cache_dir):
        return WatchedData(load(entry, seed, cache_dir), log, state)

    def evaluating(*args, **kwargs):
        state["evaluating"] = True
        try:
            return evaluate_on_test(*args, **kwargs)
        finally:
            state["evaluating"] = False

    def tuning(plans, *args, **kwargs):
        chosen = tune_all(plans, *args, **kwargs)
        state["tuning_done"][plans[0].dataset.name] = True
        return chosen

    monkeypatch.setattr(runner, "load_prepared", load_watched)
    monkeypatch.setattr(final, "evaluate_on_test", evaluating)
    monkeypatch.setattr(runner, "tune_all", tuning)
    return log


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    for module in (tuning_trials, final):
        original = module.train
        monkeypatch.setattr(module, "train", lambda *a, _o=original, **k: (calls.append(1),
                                                                             _o(*a, **k))[1])
    return calls


def test_tiny_suite_end_to_end(tmp_path, watched, count_training, capsys):
    suite_file, out = tmp_path / "tiny.toml", tmp_path / "results"
    suite_file.write_text(SUITE)
    assert main(["run", str(suite_file), "--out", str(out), "--device", "cpu",
                 "--threads", "1", "--no-progress"]) == 0
    # 2 datasets x 2 replicates x (3 losses + the balanced-sampling baseline) x (3 trials + 1
    # final run); the post-hoc baseline trains nothing
    fits = 2 * 2 * 4 * (3 + 1)
    assert len(count_training) <= fits  # pruned trials still count, as the sampler saw them

    # The test split: read only inside the final evaluation, after all tuning of the dataset.
    assert watched, "the final evaluation never read the test split"
    assert all(evaluating and tuned for _, _, evaluating, tuned in watched), watched
    assert {name for _, name, _, _ in watched} >= {"x_test", "y_test", "oracle_test_pred"}

    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 2 * 2 * 5 and all(r["status"] == "ok" for r in runs)
    assert {r["replicate"] for r in runs} == {0, 1}
    per_class = pd.read_csv(out / "per_class.csv")
    assert len(per_class) == sum(CLASSES.values()) * 5 * 2
    for name, classes in CLASSES.items():
        summary = pd.read_csv(out / "tables" / f"{name}_summary.csv")
        assert list(summary.loss) == ["ce", "focal", "ldam", "ce+posthoc", "ce+balanced_sampling"]
        assert summary.baseline.tolist() == [False, False, False, True, True]
        assert summary.macro_f1.between(0, 1).all() and summary.delta_vs_ce.isna().tolist() == [
            True, False, False, False, False]
        assert (summary.decision.dropna() == "undecided").all()  # 2 replicates decide nothing
        wide = pd.read_csv(out / "tables" / f"{name}_per_class_f1.csv")
        assert wide.shape == (classes, 3 + 5)
        assert wide.train_count.is_monotonic_decreasing
        assert len(pd.read_csv(out / "tables" / f"{name}_per_class.csv")) == classes * 5
        assert (out / "figures" / f"{name}_slices.png").stat().st_size > 1000
    blobs = pd.read_csv(out / "tables" / "blobs_summary.csv")
    assert blobs.oracle_gap.notna().all()
    posthoc = [r for r in runs if r["loss"] == "ce+posthoc"]
    assert all(0 <= r["params"]["tau"] <= 2 for r in posthoc) and len(posthoc) == 4
    verdicts = json.loads((out / "verdict.json").read_text())
    assert set(verdicts) == set(CLASSES) and all(v["recommended"] for v in verdicts.values())

    report = (out / "report.md").read_text()
    assert report.index("## Verdict") < report.index("## Protocol") < report.index("## Results")
    assert "**digits-exp10**" in report and "Wall time" in report and "Commit" in report
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 * 6 and 'src="figures/' not in html

    # A rerun finds every trial and run stored and trains nothing.
    before = (out / "runs.jsonl").read_text()
    count_training.clear()
    assert main(["run", str(suite_file), "--out", str(out), "--device", "cpu",
                 "--threads", "1", "--no-progress"]) == 0
    assert count_training == [] and (out / "runs.jsonl").read_text() == before

    # A subset run into the finished folder adds nothing and removes nothing.
    assert main(["run", str(suite_file), "--out", str(out), "--device", "cpu", "--threads", "1",
                 "--no-progress", "--losses", "focal", "--no-report"]) == 0
    assert count_training == [] and (out / "runs.jsonl").read_text() == before
    assert json.loads((out / "suite.json").read_text())["losses"] == ["ce", "focal", "ldam"]
    # Another suite into this folder is refused before anything is written.
    other = tmp_path / "other.toml"
    other.write_text(SUITE.replace('name = "tiny"', 'name = "other"'))
    suite_json = (out / "suite.json").read_bytes()
    assert main(["run", str(other), "--out", str(out), "--device", "cpu", "--no-progress"]) == 2
    assert "holds suite 'tiny'" in capsys.readouterr().err
    assert (out / "suite.json").read_bytes() == suite_json and count_training == []

    # The report rebuilds from the stored results alone.
    (out / "report.md").unlink()
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert count_training == [] and (out / "report.md").read_text().startswith("# lossbench")
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
