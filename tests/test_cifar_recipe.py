"""The CIFAR-10-LT suites and the pieces of the papers' recipe: schedule, augmentation, DRW, head."""

from pathlib import Path

import pytest
import torch
from lossbench.config.schema import ModelConfig
from lossbench.config.suite import load_suite
from lossbench.engine.augment import flip_crop, random_crop, random_flip
from lossbench.engine.models import NormedLinear, build_model, with_cosine_head
from lossbench.engine.optim import lr_factor, make_optimizer
from lossbench.losses import build_loss

SUITES = Path(__file__).resolve().parents[1] / "bench" / "config" / "suites"
ROOT = {"root": "/nowhere/cifar10-jpg.tar.gz"}


@pytest.fixture(scope="module")
def recipe():
    return load_suite("cifar10-lt", dataset_options=ROOT)


def test_recipe_suite_is_the_papers_setting(recipe):
    assert [d.name for d in recipe.datasets] == [
        "cifar10-lt-exp100", "cifar10-lt-exp50", "cifar10-lt-exp10", "cifar10-lt-step100"]
    assert [(d.spec.profile, d.spec.imbalance_ratio) for d in recipe.datasets] == [
        ("exp", 100), ("exp", 50), ("exp", 10), ("step", 100)]
    assert all(d.spec.test == "source" and d.spec.val == "balanced" for d in recipe.datasets)
    budget, optim, model = recipe.budget, recipe.optim, recipe.model
    assert (budget.epochs, budget.batch_size, budget.select) == (200, 128, "best")
    assert (model.images, model.augment, model.cosine_head) == ("resnet32", "flip_crop", ("ldam",))
    assert (optim.optimizer, optim.momentum, optim.nesterov) == ("sgd", 0.9, False)
    assert optim.lr == (0.1, 0.1) and optim.weight_decay == (2e-4, 2e-4)
    assert len(recipe.losses) == 10
    assert next(e for e in recipe.losses if e.name == "ldam").fixed == {"drw_start": 0.8}


def test_recipe_learning_rate_warms_up_then_drops_at_160_and_180(recipe):
    steps = 95  # any number of batches per epoch
    total, warmup = 200 * steps, 5 * steps

    def at(epoch, step=0):
        return lr_factor(epoch * steps + step, total, warmup, recipe.optim)

    assert at(0) == pytest.approx(1 / warmup) and at(4, steps - 1) == pytest.approx(1.0)
    assert at(5) == at(159, steps - 1) == 1.0
    assert at(160) == pytest.approx(0.01) and at(179, steps - 1) == pytest.approx(0.01)
    assert at(180) == pytest.approx(1e-4) and at(199, steps - 1) == pytest.approx(1e-4)


def test_recipe_sgd_is_plain_momentum(recipe):
    model = torch.nn.Linear(3, 2)
    optimizer = make_optimizer(model, recipe.optim, 0.1, 2e-4)
    assert all(not g["nesterov"] and g["momentum"] == 0.9 for g in optimizer.param_groups)


def test_ldam_drw_switches_on_at_epoch_160_of_200(recipe):
    fixed = next(e for e in recipe.losses if e.name == "ldam").fixed
    loss = build_loss("ldam", num_classes=10, class_counts=[4900 // (k + 1) for k in range(10)],
                      **fixed)
    loss.on_epoch_start(159, 200)
    assert not loss.drw_active
    loss.on_epoch_start(160, 200)
    assert loss.drw_active


def test_torchvision_variant_differs_only_in_source_and_name():
    jpeg = (SUITES / "cifar10-lt.toml").read_text().splitlines()
    torchvision = (SUITES / "cifar10-lt-torchvision.toml").read_text().splitlines()
    differing = [(a, b) for a, b in zip(jpeg, torchvision) if a != b]
    assert len(jpeg) == len(torchvision)
    assert set(differing) == {('name = "cifar10-lt"', 'name = "cifar10-lt-torchvision"'),
                              ('source = "imagefolder"', 'source = "cifar10"')}
    suite = load_suite("cifar10-lt-torchvision", dataset_options={"root": "/nowhere"})
    assert {d.spec.source for d in suite.datasets} == {"cifar10"}


def test_cpu_suite_keeps_the_data_and_shrinks_the_budget():
    suite = load_suite("cifar10-lt-cpu", dataset_options=ROOT)
    (entry,) = suite.datasets
    assert (entry.spec.profile, entry.spec.imbalance_ratio, entry.spec.val_per_class) == (
        "exp", 100, 100)
    assert entry.spec.options["size"] == 16
    assert [loss.name for loss in suite.losses] == ["ce", "focal", "ldam", "balanced_softmax"]
    assert suite.budget.epochs < 200 and suite.model.images == "small_cnn"


def test_cifar_suites_need_a_root():
    from lossbench.datasets import prepare
    from lossbench.errors import UserError

    suite = load_suite("cifar10-lt-cpu")
    with pytest.raises(UserError, match="needs the option root"):
        prepare(suite.datasets[0].spec)


def test_random_crop_takes_a_window_of_the_padded_image():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = random_crop(images, pad=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    shifts = set()
    for image, window in zip(padded, out):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(image[:, dy:dy + 8, dx:dx + 8], window)]
        assert found, "a crop is not a window of its own padded image"
        shifts.add(found[0])
    assert len(shifts) > 10  # the shifts vary across the batch


def test_random_flip_mirrors_about_half_and_keeps_the_rest():
    images = torch.rand(400, 3, 4, 5)
    out = random_flip(images, generator=torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250


def test_flip_crop_works_on_float_and_keeps_the_device_and_dtype():
    images = torch.randn(5, 3, 32, 32, dtype=torch.float64)
    out = flip_crop(images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.device == images.device


def test_cosine_head_gives_logits_in_minus_one_one():
    model = with_cosine_head(build_model("resnet32", (3, 16, 16), 10, ModelConfig()))
    assert isinstance(model.head, NormedLinear)
    logits = model.eval()(torch.randn(4, 3, 16, 16) * 100)
    assert logits.shape == (4, 10) and logits.abs().max() <= 1 + 1e-5
    small = with_cosine_head(build_model("small_cnn", (3, 16, 16), 10, ModelConfig(width=4)))
    assert isinstance(small[-1], NormedLinear)


def test_trials_at_an_already_trained_point_reuse_its_score(tmp_path, monkeypatch):
    # The recipe fixes lr and weight decay, so cross-entropy's trials are all one point.
    from lossbench.config.suite import parse_suite
    from lossbench.engine.data import train_val_view
    from lossbench.pipeline.suite_run import load_prepared, plans_for
    from lossbench.tuning import study as tuning_study
    from lossbench.tuning import trials as tuning_trials

    suite = parse_suite("""
losses = ["ce"]
baselines = []
[budget]
trials = 3
epochs = 1
startup_trials = 1
[optim]
lr = [0.1, 0.1]
weight_decay = [1e-4, 1e-4]
[[datasets]]
source = "digits"
profile = "exp"
imbalance_ratio = 10
""", "fixed")
    entry = suite.datasets[0]
    data = train_val_view(load_prepared(entry, 0, None))
    plan = plans_for(suite, entry, data)[0]
    calls = []
    original = tuning_trials.train
    monkeypatch.setattr(tuning_trials, "train", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    study = tuning_study.open_study(plan, f"sqlite:///{tmp_path / 'studies.db'}")
    assert tuning_trials.run_trials(study, plan, data, torch.device("cpu"), 3) == 3
    assert len(calls) == 1
    values = [t.value for t in tuning_study.finished_trials(study)]
    assert values == [values[0]] * 3
    assert [t.user_attrs.get("repeat_of") for t in study.trials] == [None, 0, 0]
