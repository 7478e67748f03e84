"""Stacked training (torch.func): K recipes trained at once equal K sequential ``train`` calls."""

import dataclasses

import pytest
import torch
from helpers.blobs import blobs as shared_blobs
from lossbench.config.plan import Recipe
from lossbench.config.schema import Budget, ModelConfig, OptimConfig
from lossbench.engine.data import Split, TrainValData
from lossbench.engine.stacked import can_stack, train_stacked
from lossbench.engine.train import train

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: steady on a shared machine (conftest's ``restore_threads`` restores it)."""
    torch.set_num_threads(1)


def blobs(n_per_class=(40, 20, 4), dim=5, seed=0) -> TrainValData:
    """64 rows, whole batches of 16: a last batch of 2 normalised by batch norm (±1 whatever the
    inputs) makes float rounding grow 100-fold, in sequential training as much as stacked."""
    return shared_blobs(n_per_class, dim, seed)


def tiny_images(counts=(30, 12, 6)) -> TrainValData:
    """uint8 8×8 images whose brightness depends on the class."""
    generator = torch.Generator().manual_seed(0)

    def split(sizes):
        y = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
        x = torch.randint(0, 200, (len(y), 3, 8, 8), generator=generator)
        x = x + 20 * y[:, None, None, None]
        return Split(x.to(torch.uint8), y)

    return TrainValData("images", "images", 3, ["a", "b", "c"], list(counts), split(counts),
                        split((8, 8, 8)), torch.full((1, 3, 1, 1), 120.0),
                        torch.full((1, 3, 1, 1), 60.0))


def recipes(optim: OptimConfig, model="mlp", config: ModelConfig | None = None, epochs=4,
            lrs=(0.1, 0.05, 0.03), decays=(1e-4, 0.0, 1e-3), **budget) -> list[Recipe]:
    """Three recipes of one model differing in loss, loss parameters, lr and weight decay."""
    losses = [("ce", {}), ("focal", {"gamma": 2.0}), ("logit_adjusted", {})]
    return [Recipe(loss=name, loss_params=params, lr=lr, weight_decay=decay, model=model,
                   budget=Budget(epochs=epochs, batch_size=16, **budget),
                   model_config=config or ModelConfig(hidden=16),
                   optim=optim) for (name, params), lr, decay in zip(losses, lrs, decays)]


def assert_same(stacked, sequential, rtol=1e-5, atol=1e-5):
    """Same divergence, epochs, validation scores and selection; losses and kept weights (batch-norm
    buffers included) to float rounding: vmap's batched matmuls round differently from the plain
    ones (~1e-7 relative in one step's gradient), which 16 momentum steps grow to ~1e-6."""
    for got, want in zip(stacked, sequential, strict=True):
        assert got.diverged == want.diverged
        assert [h["val_macro_f1"] for h in got.history] == [h["val_macro_f1"] for h in want.history]
        assert [h["epoch"] for h in got.history] == [h["epoch"] for h in want.history]
        torch.testing.assert_close(torch.tensor([h["train_loss"] for h in got.history]),
                                   torch.tensor([h["train_loss"] for h in want.history]),
                                   rtol=rtol, atol=atol)
        assert (got.best_epoch, got.best_score) == (want.best_epoch, want.best_score)
        assert got.model.training == want.model.training
        torch.testing.assert_close(got.model.state_dict(), want.model.state_dict(), rtol=rtol,
                                   atol=atol)
        assert type(got.loss_fn) is type(want.loss_fn)


@pytest.mark.parametrize("sampling", ["natural", "balanced"])
def test_sgd_nesterov_cosine_warmup_equals_sequential(sampling):
    data = blobs()
    runs = [dataclasses.replace(r, sampling=sampling)
            for r in recipes(OptimConfig(schedule="cosine", warmup_epochs=1))]
    assert can_stack(runs, data, CPU) is None
    assert_same(train_stacked(data, runs, 3, CPU), [train(data, r, 3, CPU) for r in runs])


def test_adamw_equals_sequential():
    # a linear model: under batch norm, the biases before it have an exactly-zero gradient whose
    # float noise AdamW normalises to ±lr steps, in sequential training as much as stacked
    data = blobs()
    runs = recipes(OptimConfig(optimizer="adamw", schedule="step", warmup_epochs=0),
                   model="linear", lrs=(0.01, 0.003, 0.02), decays=(1e-2, 0.0, 1e-3))
    assert_same(train_stacked(data, runs, 5, CPU), [train(data, r, 5, CPU) for r in runs])


def test_images_with_augmentation_and_batch_norm_2d_equal_sequential():
    data = tiny_images()
    runs = recipes(OptimConfig(nesterov=False), model="small_cnn",
                   config=ModelConfig(width=4, augment="flip_crop"), epochs=2)
    assert_same(train_stacked(data, runs, 1, CPU), [train(data, r, 1, CPU) for r in runs])


def test_a_diverging_recipe_stops_alone_as_in_sequential_training():
    data = blobs()
    runs = recipes(OptimConfig(), lrs=(1e5, 0.05, 50.0), decays=(1e-4, 0.0, 0.0))
    stacked, sequential = train_stacked(data, runs, 3, CPU), [train(data, r, 3, CPU) for r in runs]
    assert [r.diverged is not None for r in sequential] == [True, False, True]
    # the same step and message; huge learning rates amplify float rounding in the weights kept
    assert_same(stacked, sequential, rtol=1e-2, atol=1e-3)


def test_can_stack_refuses_mixed_models_and_cosine_heads():
    data = blobs()
    runs = recipes(OptimConfig())
    mixed = [runs[0], dataclasses.replace(runs[1], model="linear")]
    reason = can_stack(mixed, data, CPU)
    assert reason is not None and "model" in reason and "mlp" in reason and "linear" in reason
    with pytest.raises(ValueError, match="linear"):
        train_stacked(data, mixed, 0, CPU)
    ldam = dataclasses.replace(runs[1], loss="ldam")  # trained with a cosine head by default
    assert "cosine head" in can_stack([runs[0], ldam], data, CPU)
    assert "budget" in can_stack([runs[0], dataclasses.replace(
        runs[1], budget=Budget(epochs=9, batch_size=16))], data, CPU)
    assert "optimiser" in can_stack([runs[0], dataclasses.replace(
        runs[1], optim=OptimConfig(optimizer="adamw"))], data, CPU)
    assert can_stack([], data, CPU) is not None
    assert can_stack([ldam, dataclasses.replace(ldam, lr=0.3)], data, CPU) is None
