"""Pieces of the replicated protocol: replicate seeds, balanced sampling, the post-hoc shift,
the baselines of a suite, the results folder's ownership."""

import math

import numpy as np
import pytest
import torch
from lossbench.config.plan import replicate_budget
from lossbench.config.schema import Budget
from lossbench.config.suite import parse_suite
from lossbench.engine.data import Split, TrainValData
from lossbench.engine.train import FitResult, _batches, balanced_weights
from lossbench.errors import UserError
from lossbench.evaluation.final import choose_posthoc_tau, final_seeds
from lossbench.store import ResultStore, folder_name

SUITE = """
name = "p"
losses = ["ce", "focal"]
[[datasets]]
source = "digits"
"""


def test_replicates_redraw_every_seed_and_the_suite_seed_moves_them_all():
    budget = Budget(data_seed=3, tune_seed=7)
    seeds = {(r, s): replicate_budget(budget, s, r) for r in range(3) for s in range(2)}
    assert len({(b.data_seed, b.tune_seed) for b in seeds.values()}) == 6
    assert (seeds[(0, 0)].data_seed, seeds[(0, 0)].tune_seed) == (3, 7)
    finals = [tuple(final_seeds(2, r, s)) for r in range(3) for s in range(2)]
    assert len(set(finals)) == 6 and all(seed >= 1000 for pair in finals for seed in pair)


def test_balanced_sampling_draws_every_class_alike():
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    weights = balanced_weights(labels, 3)
    torch.manual_seed(0)
    drawn = torch.cat(_batches(len(labels), 100, torch.device("cpu"), weights))
    share = torch.bincount(labels[drawn], minlength=3).double() / len(drawn)
    assert torch.allclose(share, torch.full((3,), 1 / 3, dtype=torch.double), atol=0.05)
    assert len(drawn) == len(labels)  # the same number of steps an epoch


class ConstantModel(torch.nn.Module):
    """Logits that favour class 0 by log(prior ratio): the shift τ = 1 undoes it exactly."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits, self.dummy = logits, torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.logits[x[:, 0].long()]


def test_posthoc_tau_is_chosen_on_validation():
    counts = [900, 100]
    prior = torch.log(torch.tensor(counts, dtype=torch.float32) / 1000)
    balanced = torch.tensor([[2.0, 0.0], [0.0, 2.0]] * 50)
    val_logits = balanced[:20] + prior  # the model's logits carry the training prior
    x = torch.arange(20, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor([0, 1] * 10)
    data = TrainValData("toy", "features", 2, ["a", "b"], counts, Split(x, y), Split(x, y),
                        torch.zeros(1, 1), torch.ones(1, 1))
    fit = FitResult(model=ConstantModel(val_logits))
    tau, score, shift = choose_posthoc_tau(fit, data, torch.device("cpu"), 64)
    assert tau > 0 and score == pytest.approx(1.0)
    assert torch.allclose(shift, -tau * prior)


def test_a_suite_gets_both_baselines_with_ce_and_none_without():
    suite = parse_suite(SUITE, "p")
    assert suite.baselines == ("ce+posthoc", "ce+balanced_sampling")
    trained = [(e.name, e.registry_name, e.sampling) for e in suite.trained]
    assert trained[-1] == ("ce+balanced_sampling", "ce", "balanced")
    assert suite.with_overrides(losses=["focal"]).baselines == ()
    none = parse_suite(SUITE.replace('losses = ["ce", "focal"]', 'losses = ["focal"]'), "p")
    assert none.baselines == ()
    with pytest.raises(UserError, match="need cross-entropy"):
        parse_suite(SUITE.replace('losses = ["ce", "focal"]',
                                  'losses = ["focal"]\nbaselines = ["ce+posthoc"]'), "p")
    with pytest.raises(UserError, match="did you mean 'ce\\+posthoc'"):
        parse_suite(SUITE.replace('losses = ["ce", "focal"]',
                                  'losses = ["ce"]\nbaselines = ["ce+posthc"]'), "p")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("seed", "-1", "seed must be a whole number"), ("rope", "1.5", "rope must be a number"),
    ("seed", "true", "seed must be a whole number")])
def test_bad_protocol_settings_are_refused(key, value, message):
    with pytest.raises(UserError, match=message):
        parse_suite(f"{key} = {value}\n" + SUITE, "p")


def test_two_names_that_clean_alike_get_two_folders(tmp_path):
    store = ResultStore(tmp_path)
    a, b = store.run_path("digits ρ≥10", "ce", 0, 1000), store.run_path("digits ρ<10", "ce", 0, 1000)
    assert a != b and folder_name("digits-exp20") == "digits-exp20"


def test_an_empty_interval_stays_undefined():
    from lossbench.evaluation.stats import mean_interval

    interval = mean_interval([0.5])
    assert interval.mean == 0.5 and math.isnan(interval.low) and np.isnan(interval.high)


def test_each_loss_declares_its_probability_transform():
    from lossbench.evaluation.final import probabilities
    from lossbench.losses import build_loss

    z = torch.tensor([[0.2, -0.1, 0.05]])
    ldam = build_loss("ldam", num_classes=3, class_counts=[100, 10, 1], scale=30.0)
    ce = build_loss("ce", num_classes=3)
    assert ldam.probability_scale == 30.0 and ce.probability_scale == 1.0
    fit_ldam, fit_ce = FitResult(model=None, loss_fn=ldam), FitResult(model=None, loss_fn=ce)
    assert torch.allclose(probabilities(z, fit_ldam), torch.softmax(30 * z.double(), 1))
    assert torch.allclose(probabilities(z, fit_ce), torch.softmax(z.double(), 1))
