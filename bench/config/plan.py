"""Plans: what one study tunes (``StudyPlan``) and what one training run trains (``Recipe``).

Plain data, made from a suite; the engine trains a ``Recipe``, tuning and the final runs both
work from a ``StudyPlan``, whose fingerprint names the settings a trial depends on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from lossbench.config.datasets import DatasetEntry
from lossbench.config.losses import SHARED_PARAMS
from lossbench.config.schema import Budget, ModelConfig, OptimConfig
from lossbench.store.io import fingerprint


@dataclass(frozen=True)
class LossEntry:
    """One loss of a suite: its name, the parameters the suite fixes, and for a baseline the
    registry loss it trains and how its batches are drawn."""

    name: str
    fixed: dict
    loss: str = ""
    """The registry loss trained (the name itself for a loss of the registry)."""
    sampling: str = "natural"
    """``natural`` (shuffled rows) or ``balanced`` (every class equally likely in a batch)."""
    baseline: bool = False
    """A baseline of the protocol (``ce+balanced_sampling``), not a loss of the registry."""

    @property
    def registry_name(self) -> str:
        return self.loss or self.name


def replicate_budget(budget: Budget, suite_seed: int, replicate: int) -> Budget:
    """The budget of replicate ``replicate``: its data and tuning seeds shifted by the replicate
    and by the suite's ``seed`` (another ``seed`` re-draws every replicate)."""
    shift = REPLICATE_STRIDE * suite_seed + replicate
    return replace(budget, data_seed=budget.data_seed + shift, tune_seed=budget.tune_seed + shift)


REPLICATE_STRIDE = 1000
"""A suite ``seed`` moves every replicate by this much: seeds 0 and 1 share no replicate."""


@dataclass(frozen=True)
class Recipe:
    """Everything that defines one training run except the seed and the data."""

    loss: str
    loss_params: dict
    lr: float
    weight_decay: float
    model: str
    budget: Budget
    model_config: ModelConfig
    optim: OptimConfig
    sampling: str = "natural"


@dataclass(frozen=True)
class StudyPlan:
    """What one study tunes: a dataset, a loss and the suite's fixed settings."""

    suite: str
    dataset: DatasetEntry
    loss: LossEntry
    model: str
    budget: Budget
    model_config: ModelConfig
    optim: OptimConfig
    replicate: int = 0

    def settings(self) -> dict:
        """The settings a trial depends on (not the trial count), for the fingerprint."""
        budget = {k: v for k, v in asdict(self.budget).items()
                  if k not in ("trials", "seeds", "eval_batch_size")}
        settings = {"dataset": self.dataset.spec.to_dict(), "loss": self.loss.name,
                    "fixed": self.loss.fixed, "model": self.model, "budget": budget,
                    "model_config": asdict(self.model_config), "optim": asdict(self.optim)}
        if self.loss.sampling != "natural":
            settings["sampling"] = self.loss.sampling
        return settings

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.settings())

    @property
    def default_study_name(self) -> str:
        return (f"{self.suite}/{self.dataset.name}/{self.loss.name}/r{self.replicate}/"
                f"{self.fingerprint}")

    def recipe(self, params: dict) -> Recipe:
        """The training recipe for sampled or best ``params`` (lr, weight_decay, loss params)."""
        loss_params = {**self.loss.fixed,
                       **{k: v for k, v in params.items() if k not in SHARED_PARAMS}}
        return Recipe(loss=self.loss.registry_name, loss_params=loss_params,
                      lr=float(params["lr"]), weight_decay=float(params["weight_decay"]),
                      model=self.model, budget=self.budget, model_config=self.model_config,
                      optim=self.optim, sampling=self.loss.sampling)
