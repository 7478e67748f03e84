"""Final runs: a replicate's best parameters retrained, then scored on the test split.

This is the only module that reads the test split (``x_test``, ``y_test``, ``oracle_test_pred``)
and it does so in ``evaluate_on_test``, after training and model selection on validation are done.
The ``ce+posthoc`` baseline is made here too: the cross-entropy model's logits shifted by
−τ·log π with τ chosen on the *validation* split (Menon et al. 2021, "Long-tail learning via
logit adjustment", post-hoc correction), then scored on test once.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from lossbench.config.plan import StudyPlan
from lossbench.engine.data import TrainValData
from lossbench.engine.score import macro_f1_fast
from lossbench.engine.train import FitResult, predict_logits, train
from lossbench.evaluation.metrics import classification_report, macro_f1

FINAL_SEED_BASE = 1000
"""Final runs use seeds from 1000 on: never the seed the trials trained with."""
POSTHOC = "ce+posthoc"
POSTHOC_TAUS = tuple(round(0.1 * k, 1) for k in range(21))
"""The grid of τ for the post-hoc shift: 0, 0.1, …, 2 (τ = 1 is the Bayes correction for a
balanced test set when the model estimates the training posterior)."""


def final_seeds(count: int, replicate: int = 0, suite_seed: int = 0) -> list[int]:
    """The seeds of the final runs of replicate ``replicate`` (the same for every loss of the
    replicate, so runs pair; other replicates and suite seeds get others)."""
    start = FINAL_SEED_BASE + 100 * (1000 * suite_seed + replicate)
    return [start + k for k in range(count)]


def probabilities(logits: torch.Tensor, fit: FitResult) -> torch.Tensor:
    """Class probabilities from the loss's own logit transform: softmax(s·z) for a loss that
    trains on scaled logits (LDAM's ``probability_scale`` s), softmax(z) otherwise."""
    scale = float(getattr(fit.loss_fn, "probability_scale", 1.0))
    return torch.softmax(scale * logits.double(), dim=1)


def evaluate_on_test(fit: FitResult, data: TrainValData, prepared: Any, device: torch.device,
                     batch_size: int, shift: torch.Tensor | None = None) -> dict:
    """Test metrics of a trained model (its logits plus ``shift`` where given) and the oracle's
    macro-F1 where the source has one."""
    logits = predict_logits(fit.model, data, prepared.x_test, device, batch_size)
    if shift is not None:
        logits = logits + shift
    report = classification_report(prepared.y_test, probabilities(logits, fit), data.train_counts)
    oracle = getattr(prepared, "oracle_test_pred", None)
    report["oracle_macro_f1"] = (macro_f1(prepared.y_test, oracle, data.num_classes)
                                 if oracle is not None else None)
    return report


def run_record(plan: StudyPlan, params: dict, seed: int, fit: FitResult, data: TrainValData,
               fingerprint: str) -> dict:
    """The JSON-able record of one final run, before its test metrics are added."""
    return {
        "suite": plan.suite, "dataset": plan.dataset.name, "loss": plan.loss.name,
        "replicate": plan.replicate, "seed": seed, "baseline": plan.loss.baseline,
        "fingerprint": fingerprint, "model": plan.model,
        "params": {k: v for k, v in params.items()}, "fixed_params": dict(plan.loss.fixed),
        "status": "diverged" if fit.diverged else "ok", "diverged": fit.diverged,
        "best_epoch": fit.best_epoch, "val_macro_f1": fit.selected_score, "history": fit.history,
        "train_seconds": fit.seconds, "class_names": data.class_names,
        "train_counts": data.train_counts,
    }


def final_run(plan: StudyPlan, params: dict, seed: int, data: TrainValData, prepared: Any,
              device: torch.device, fingerprint: str, posthoc: bool = False) -> list[dict]:
    """Train ``params`` with ``seed``, keep the epoch chosen on validation, score it on test.

    Returns the run's record, and with ``posthoc`` (the cross-entropy run of a suite with that
    baseline) the ``ce+posthoc`` record of the same model. A run that diverged is scored with the
    best epoch before the divergence; with no such epoch it is stored without test metrics and
    marked ``failed``.
    """
    fit = train(data, plan.recipe(params), seed, device)
    record = run_record(plan, params, seed, fit, data, fingerprint)
    if fit.best_epoch is None:
        record.update(status="failed", test=None)
        return [record]
    started = time.perf_counter()
    batch = plan.budget.eval_batch_size
    record["test"] = evaluate_on_test(fit, data, prepared, device, batch)
    record["eval_seconds"] = time.perf_counter() - started
    if not posthoc:
        return [record]
    tau, val_score, shift = choose_posthoc_tau(fit, data, device, batch)
    shifted = {**record, "loss": POSTHOC, "baseline": True, "params": {**params, "tau": tau},
               "val_macro_f1": val_score, "history": [],
               "fingerprint": f"{fingerprint}+posthoc"}
    shifted["test"] = evaluate_on_test(fit, data, prepared, device, batch, shift=shift)
    return [record, shifted]


def choose_posthoc_tau(fit: FitResult, data: TrainValData, device: torch.device,
                       batch_size: int) -> tuple[float, float, torch.Tensor]:
    """τ of the grid with the best validation macro-F1 of logits − τ·log π (ties: the smaller
    τ), its score and the shift; π is the training split's class prior."""
    counts = np.asarray(data.train_counts, dtype=float)
    log_prior = torch.tensor(np.log(np.maximum(counts, 1) / max(counts.sum(), 1)),
                             dtype=torch.float32)
    logits = predict_logits(fit.model, data, data.val.x, device, batch_size)
    best = (-math.inf, 0.0)
    for tau in POSTHOC_TAUS:
        predicted = (logits - tau * log_prior).argmax(1)
        score = macro_f1_fast(data.val.y.cpu(), predicted, data.num_classes)
        if score > best[0]:
            best = (score, tau)
    score, tau = best
    return tau, score, -tau * log_prior
