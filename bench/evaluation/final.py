"""Final runs: the best parameters retrained over the suite's seeds, then scored on the test split.

This is the only module that reads the test split (``x_test``, ``y_test``, ``oracle_test_pred``)
and it does so in ``evaluate_on_test``, after training and model selection on validation are done.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from lossbench.config.plan import StudyPlan
from lossbench.engine.data import TrainValData
from lossbench.engine.train import FitResult, predict_logits, train
from lossbench.evaluation.metrics import classification_report, macro_f1

FINAL_SEED_BASE = 1000
"""Final runs use seeds 1000, 1001, …: never the seed the trials trained with."""


def final_seeds(count: int) -> list[int]:
    """The seeds of the final runs of every loss (the same for all, so runs pair by seed)."""
    return [FINAL_SEED_BASE + k for k in range(count)]


def evaluate_on_test(model: torch.nn.Module, data: TrainValData, prepared: Any, device: torch.device,
                     batch_size: int) -> dict:
    """Test metrics of a trained ``model`` (and the oracle's macro-F1 where the source has one)."""
    logits = predict_logits(model, data, prepared.x_test, device, batch_size)
    probs = torch.softmax(logits.double(), dim=1)
    report = classification_report(prepared.y_test, probs, data.train_counts)
    oracle = getattr(prepared, "oracle_test_pred", None)
    report["oracle_macro_f1"] = (macro_f1(prepared.y_test, oracle, data.num_classes)
                                 if oracle is not None else None)
    return report


def run_record(plan: StudyPlan, params: dict, seed: int, fit: FitResult, data: TrainValData,
               fingerprint: str) -> dict:
    """The JSON-able record of one final run, before its test metrics are added."""
    return {
        "suite": plan.suite, "dataset": plan.dataset.name, "loss": plan.loss.name, "seed": seed,
        "fingerprint": fingerprint, "model": plan.model,
        "params": {k: v for k, v in params.items()}, "fixed_params": dict(plan.loss.fixed),
        "status": "diverged" if fit.diverged else "ok", "diverged": fit.diverged,
        "best_epoch": fit.best_epoch, "val_macro_f1": fit.selected_score, "history": fit.history,
        "train_seconds": fit.seconds, "class_names": data.class_names,
        "train_counts": data.train_counts,
    }


def final_run(plan: StudyPlan, params: dict, seed: int, data: TrainValData, prepared: Any,
              device: torch.device, fingerprint: str) -> dict:
    """Train ``params`` with ``seed``, keep the epoch chosen on validation, score it on test.

    A run that diverged is scored with the best epoch before the divergence; with no such epoch
    it is stored without test metrics and marked ``failed``.
    """
    fit = train(data, plan.recipe(params), seed, device)
    record = run_record(plan, params, seed, fit, data, fingerprint)
    if fit.best_epoch is None:
        record.update(status="failed", test=None)
        return record
    started = time.perf_counter()
    record["test"] = evaluate_on_test(fit.model, data, prepared, device,
                                      plan.budget.eval_batch_size)
    record["eval_seconds"] = time.perf_counter() - started
    return record
