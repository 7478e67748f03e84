"""The training loop: models, schedule, determinism, the DRW hook, divergence, model selection."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from helpers.blobs import blobs
from lossbench.config.plan import Recipe
from lossbench.config.schema import Budget, ModelConfig, OptimConfig
from lossbench.engine import train as engine_train
from lossbench.engine.models import build_model
from lossbench.engine.optim import lr_factor
from lossbench.engine.score import macro_f1_fast
from lossbench.engine.train import augment, predict_logits, train
from lossbench.evaluation.metrics import macro_f1

CPU = torch.device("cpu")


def recipe(loss="ce", epochs=4, **budget) -> Recipe:
    return Recipe(loss=loss, loss_params={}, lr=0.1, weight_decay=1e-4, model="mlp",
                  budget=Budget(epochs=epochs, batch_size=16, **budget),
                  model_config=ModelConfig(hidden=16), optim=OptimConfig())


def test_fast_macro_f1_equals_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y_true = torch.from_numpy(rng.integers(0, 5, 50))
        y_pred = torch.from_numpy(rng.integers(0, 4, 50))  # class 4 never predicted
        assert macro_f1_fast(y_true, y_pred, 6) == pytest.approx(macro_f1(y_true, y_pred, 6))


@pytest.mark.parametrize("name, shape", [("linear", (7,)), ("mlp", (7,)), ("mlp", (3, 8, 8)),
                                         ("small_cnn", (3, 16, 16)), ("resnet32", (3, 16, 16)),
                                         ("resnet18", (3, 32, 32))])
def test_models_give_one_logit_per_class(name, shape):
    model = build_model(name, shape, 5, ModelConfig(hidden=8, width=4)).eval()
    assert model(torch.randn(2, *shape)).shape == (2, 5)


def test_resnet32_has_the_cifar_size():
    model = build_model("resnet32", (3, 32, 32), 10, ModelConfig())
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(0.46e6, rel=0.02)


def test_augment_keeps_shape_and_dtype():
    images = torch.randint(0, 255, (4, 3, 8, 8), dtype=torch.uint8)
    for mode in ("none", "flip", "flip_crop"):
        out = augment(images, mode)
        assert out.shape == images.shape and out.dtype == torch.uint8


def test_schedule_warms_up_then_decays():
    config = OptimConfig(schedule="cosine")
    assert lr_factor(0, 100, 10, config) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, config) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, config) == pytest.approx(0.5)
    step = OptimConfig(schedule="step", step_milestones=(0.5, 0.75), step_gamma=0.1)
    assert [lr_factor(s, 100, 0, step) for s in (10, 60, 90)] == pytest.approx([1, 0.1, 0.01])


def test_same_seed_same_run_and_selection_on_validation():
    data = blobs()
    first, again = train(data, recipe(), 3, CPU), train(data, recipe(), 3, CPU)
    assert [h["val_macro_f1"] for h in first.history] == [h["val_macro_f1"] for h in again.history]
    assert first.best_score == max(h["val_macro_f1"] for h in first.history)
    logits = predict_logits(first.model, data, data.val.x, CPU, 64)
    assert macro_f1(data.val.y, logits.argmax(1), 3) == pytest.approx(first.best_score)


def test_epoch_hook_is_called_every_epoch(monkeypatch):
    calls = []
    build = engine_train.build_loss

    def with_hook(*args, **kwargs):
        module = build(*args, **kwargs)
        module.on_epoch_start = lambda epoch, epochs: calls.append((epoch, epochs))
        return module

    monkeypatch.setattr(engine_train, "build_loss", with_hook)
    train(blobs(), recipe(epochs=3), 0, CPU)
    assert calls == [(0, 3), (1, 3), (2, 3)]


class NanAfter(torch.nn.Module):
    """Cross-entropy that returns NaN from its ``after``-th call on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, logits, target):
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(logits, target)
        return loss * math.nan if self.calls > self.after else loss


def test_divergence_stops_training_at_once(monkeypatch):
    loss = NanAfter(after=5)  # 66 rows / 16 = 4 steps an epoch: diverges in epoch 1
    monkeypatch.setattr(engine_train, "build_loss", lambda *args, **kwargs: loss)
    result = train(blobs(), recipe(epochs=10), 0, CPU)
    assert result.diverged and "epoch 1" in result.diverged and "nan" in result.diverged
    assert loss.calls == 6 and len(result.history) == 1 and result.best_epoch == 0
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_a_finite_blow_up_is_divergence_too():
    # lr 1e4 on plain SGD: the loss stays finite for a while but runs to 1e5x its start and beyond
    result = train(blobs(), dataclasses.replace(recipe(epochs=10), lr=1e4), 0, CPU)
    assert result.diverged, result.history
    assert "grew to" in result.diverged or "non-finite" in result.diverged \
        or "loss became" in result.diverged, result.diverged
    reference = train(blobs(), recipe(epochs=3), 0, CPU)
    assert reference.diverged is None  # an ordinary run never trips the bound


class Grows(torch.nn.Module):
    """Cross-entropy times 10^(calls): finite, and 1e4 times its first value within 5 steps."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, logits, target):
        self.calls += 1
        return torch.nn.functional.cross_entropy(logits, target) * 10.0 ** self.calls


def test_a_loss_that_grows_past_the_bound_stops_with_the_factor_in_the_reason(monkeypatch):
    loss = Grows()
    monkeypatch.setattr(engine_train, "build_loss", lambda *args, **kwargs: loss)
    result = train(blobs(), recipe(epochs=10), 0, CPU)
    assert result.diverged and "grew to" in result.diverged and "10000x" in result.diverged
    assert loss.calls <= 8  # stopped in its second epoch at the latest


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_weight_is_found_in_any_tensor(bad):
    tensors = [torch.randn(4, 3), torch.full((5,), 1e30), torch.zeros(2)]  # huge is still finite
    assert engine_train._all_finite(tensors)
    tensors[2][1] = bad
    assert not engine_train._all_finite(tensors)


def test_inputs_standardised_once_equal_those_of_each_batch(monkeypatch):
    # the standardised copy of the splits (no augmentation) gives bit for bit the same training
    # as standardising each batch, which is what happens above the size limit
    data = blobs()
    data = dataclasses.replace(data, mean=torch.full((1, 5), 0.3), std=torch.full((1, 5), 1.7))
    once = train(data, recipe(epochs=3), 0, CPU)
    monkeypatch.setattr(engine_train, "STANDARDISE_ONCE_BYTES", 0)
    each = train(data, recipe(epochs=3), 0, CPU)
    assert once.history == each.history
    for a, b in zip(once.model.state_dict().values(), each.model.state_dict().values()):
        assert torch.equal(a, b)
