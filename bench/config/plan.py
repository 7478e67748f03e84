"""Plans: what one study tunes (``StudyPlan``) and what one training run trains (``Recipe``).

Plain data, made from a suite; the engine trains a ``Recipe``, tuning and the final runs both
work from a ``StudyPlan``, whose fingerprint names the settings a trial depends on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lossbench.config.datasets import DatasetEntry
from lossbench.config.losses import SHARED_PARAMS
from lossbench.config.schema import Budget, ModelConfig, OptimConfig
from lossbench.store.io import fingerprint


@dataclass(frozen=True)
class LossEntry:
    """One loss of a suite: its registry name and the parameters the suite fixes."""

    name: str
    fixed: dict


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

    def settings(self) -> dict:
        """The settings a trial depends on (not the trial count), for the fingerprint."""
        budget = {k: v for k, v in asdict(self.budget).items()
                  if k not in ("trials", "seeds", "eval_batch_size")}
        return {"dataset": self.dataset.spec.to_dict(), "loss": self.loss.name,
                "fixed": self.loss.fixed, "model": self.model, "budget": budget,
                "model_config": asdict(self.model_config), "optim": asdict(self.optim)}

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.settings())

    @property
    def default_study_name(self) -> str:
        return f"{self.suite}/{self.dataset.name}/{self.loss.name}/{self.fingerprint}"

    def recipe(self, params: dict) -> Recipe:
        """The training recipe for sampled or best ``params`` (lr, weight_decay, loss params)."""
        loss_params = {**self.loss.fixed,
                       **{k: v for k, v in params.items() if k not in SHARED_PARAMS}}
        return Recipe(loss=self.loss.name, loss_params=loss_params, lr=float(params["lr"]),
                      weight_decay=float(params["weight_decay"]), model=self.model,
                      budget=self.budget, model_config=self.model_config, optim=self.optim)
