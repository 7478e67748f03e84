"""The optimiser and schedule of training (``lossbench.engine.optim``): bit for bit
``torch.optim.SGD``/``AdamW`` under ``LambdaLR``, and no ``torch._dynamo`` import on the way."""

import dataclasses
import subprocess
import sys

import pytest
import torch
from lossbench.config.schema import OptimConfig
from lossbench.engine.optim import lr_factor, make_optimizer, make_schedule

CONFIGS = [OptimConfig(optimizer="sgd", momentum=0.9, nesterov=True, schedule="cosine"),
           OptimConfig(optimizer="sgd", momentum=0.9, nesterov=False, schedule="step"),
           OptimConfig(optimizer="sgd", momentum=0.0, schedule="constant"),
           OptimConfig(optimizer="adamw", schedule="cosine")]


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8),
                                        torch.nn.ReLU(), torch.nn.Linear(8, 3))
        self.unused = torch.nn.Linear(2, 2)  # no gradient: skipped by both

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return Net()


def torch_optimizer(net, config, lr, weight_decay):
    decay = [p for p in net.parameters() if p.ndim > 1]
    rest = [p for p in net.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum, foreach=True,
                               nesterov=config.nesterov and config.momentum > 0)
    return torch.optim.AdamW(groups, lr=lr, foreach=True)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.optimizer}-{c.schedule}")
def test_steps_equal_torch_optim_bit_for_bit(config):
    config = dataclasses.replace(config, warmup_epochs=1)
    ours, theirs = model(), model()
    steps, epochs = 5, 4
    mine = make_optimizer(ours, config, 0.3, 5e-3)
    my_schedule = make_schedule(mine, config, epochs, steps)
    reference = torch_optimizer(theirs, config, 0.3, 5e-3)
    total, warmup = epochs * steps, steps
    their_schedule = torch.optim.lr_scheduler.LambdaLR(
        reference, lambda s: lr_factor(s, total, warmup, config))
    data = torch.Generator().manual_seed(1)
    for _ in range(epochs * steps):
        x, y = torch.randn(16, 6, generator=data), torch.randint(0, 3, (16,), generator=data)
        for net in (ours, theirs):
            net.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()
        mine.step(), my_schedule.step()
        reference.step(), their_schedule.step()
        assert [g["lr"] for g in mine.param_groups] == [g["lr"] for g in reference.param_groups]
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
        assert torch.equal(a, b)
    assert not torch.equal(ours.body[0].weight, model().body[0].weight)  # it did train


def test_training_imports_no_dynamo():
    code = """
import sys, torch
from lossbench.config.plan import Recipe
from lossbench.config.schema import Budget, ModelConfig, OptimConfig
from lossbench.engine.data import Split, TrainValData
from lossbench.engine.train import train
x, y = torch.randn(40, 4), torch.arange(40) % 2
data = TrainValData("d", "features", 2, ["a", "b"], [20, 20], Split(x, y), Split(x, y),
                    torch.zeros(1, 4), torch.ones(1, 4))
for optimizer in ("sgd", "adamw"):
    recipe = Recipe(loss="ce", loss_params={}, lr=0.1, weight_decay=1e-4, model="mlp",
                    budget=Budget(epochs=2, batch_size=8), model_config=ModelConfig(hidden=8),
                    optim=OptimConfig(optimizer=optimizer))
    assert train(data, recipe, 0, torch.device("cpu")).best_epoch is not None
print("torch._dynamo" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
