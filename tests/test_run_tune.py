"""``lossbench tune``: --trials is a target of finished trials, so reruns resume and never repeat."""

import math

import optuna
import pytest
import torch
from lossbench.cli import main
from lossbench.engine import train as engine_train
from lossbench.tuning import study as tuning_study
from lossbench.tuning import trials as tuning_trials

pytestmark = pytest.mark.slow


ARGS = ["tune", "--dataset", "digits", "--profile", "exp", "--imbalance-ratio", "10",
        "--loss", "focal", "--epochs", "2", "--device", "cpu", "--threads", "1",
        "--no-progress"]


def finished(storage: str) -> list[optuna.trial.FrozenTrial]:
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return tuning_study.finished_trials(study)


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    original = tuning_trials.train
    monkeypatch.setattr(tuning_trials, "train", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    return calls


def test_rerun_runs_only_the_missing_trials(tmp_path, count_training, capsys):
    out, storage = tmp_path / "results", f"sqlite:///{tmp_path / 'results' / 'studies.db'}"
    assert main([*ARGS, "--trials", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 run now" in printed and "gamma = " in printed and "lr = " in printed
    assert (out / "figures" / "slice_digits-exp10_focal.png").stat().st_size > 1000
    assert (out / "trials" / "digits-exp10" / "focal" / "r0.csv").is_file()
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    assert study.metric_names == ["val_macro_f1"]  # what optuna-dashboard labels the axis with
    assert {k: study.user_attrs[k] for k in ("dataset", "loss", "replicate")} == \
        {"dataset": "digits-exp10", "loss": "focal", "replicate": 0}
    first = [(t.number, t.params) for t in finished(storage)]
    assert len(first) == 3 and len(count_training) == 3

    assert main([*ARGS, "--trials", "3", "--out", str(out)]) == 0
    assert "0 run now" in capsys.readouterr().out and len(count_training) == 3
    assert main([*ARGS, "--trials", "5", "--out", str(out)]) == 0
    assert "2 run now" in capsys.readouterr().out and len(count_training) == 5
    after = finished(storage)
    assert len(after) == 5 and [(t.number, t.params) for t in after[:3]] == first


def test_resumed_study_draws_what_an_uninterrupted_one_draws(tmp_path):
    resumed, straight = (f"sqlite:///{tmp_path / name}.db" for name in ("resumed", "straight"))
    for trials in (2, 4):
        assert main([*ARGS, "--trials", str(trials), "--storage", resumed,
                     "--out", str(tmp_path)]) == 0
    assert main([*ARGS, "--trials", "4", "--storage", straight, "--out", str(tmp_path)]) == 0
    assert [t.params for t in finished(resumed)] == [t.params for t in finished(straight)]


def test_a_study_made_with_other_settings_is_refused(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'named.db'}"
    named = [*ARGS, "--trials", "1", "--storage", storage, "--study", "mine", "--out", str(tmp_path)]
    assert main(named) == 0
    capsys.readouterr()
    assert main([*named[:named.index("--epochs")], "--epochs", "3",
                 *named[named.index("--epochs") + 2:]]) == 2
    assert "other settings" in capsys.readouterr().err


def test_bad_tune_input_exits_2(tmp_path, capsys):
    assert main([*ARGS, "--trials", "0", "--out", str(tmp_path)]) == 2
    assert "--trials" in capsys.readouterr().err
    bad_loss = [*ARGS, "--trials", "1", "--out", str(tmp_path)]
    bad_loss[bad_loss.index("focal")] = "focl"
    assert main(bad_loss) == 2
    assert "did you mean 'focal'" in capsys.readouterr().err
    assert main(["tune", "--dataset", "digitz", "--loss", "ce", "--out", str(tmp_path)]) == 2
    assert "digitz" in capsys.readouterr().err


class NanLoss(torch.nn.Module):
    def forward(self, logits, target):
        return logits.sum() * math.nan


def test_a_diverging_trial_is_pruned_with_its_reason_and_the_study_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_train, "build_loss", lambda *args, **kwargs: NanLoss())
    storage = f"sqlite:///{tmp_path / 'nan.db'}"
    assert main([*ARGS, "--trials", "2", "--storage", storage, "--out", str(tmp_path)]) == 1
    trials = finished(storage)
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(t.user_attrs["pruned_reason"].startswith("diverged: loss became nan")
               for t in trials)


def test_without_a_terminal_every_finished_trial_prints_one_line(tmp_path, capsys):
    args = [arg for arg in ARGS if arg != "--no-progress"]
    assert main([*args, "--trials", "2", "--out", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert len(lines) == 2, lines
    for number, line in enumerate(lines, 1):
        assert line.startswith(f"[{number}/2 ") and f"trial {number}/2 finished" in line, line
        assert "digits-exp10 | focal" in line and "best val F1 0." in line, line


def test_tune_lists_the_top_trials_and_the_validation_noise(tmp_path, capsys):
    assert main([*ARGS, "--trials", "3", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "validation rows, noise about ±0.0" in printed
    assert "top 3 complete trials:" in printed
    tops = [line for line in printed.splitlines() if line.startswith("  trial ")]
    values = [float(line.split()[2]) for line in tops]
    assert len(tops) == 3 and values == sorted(values, reverse=True)
    assert all("gamma=" in line and "lr=" in line for line in tops)


def test_certainty_spreads_the_parameters_of_trials_within_the_noise():
    import pandas as pd
    from lossbench.pipeline.tune_one import certainty

    frame = pd.DataFrame({"number": [0, 1, 2, 3], "state": ["COMPLETE"] * 3 + ["PRUNED"],
                          "value": [0.80, 0.79, 0.60, 0.81],
                          "param_gamma": [0.9, 1.9, 4.0, 0.1]})
    found = certainty(frame, 0.80, val_rows=100)  # noise sqrt(.8 * .2 / 100) = 0.04
    assert found["noise"] == pytest.approx(0.04)
    assert found["within_noise"] == 2 and found["spread"]["gamma"] == (0.9, 1.9)
    assert [t["number"] for t in found["top"]] == [0, 1, 2]  # pruned trials are not listed
