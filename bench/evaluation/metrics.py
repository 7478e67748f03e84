"""Test metrics, computed with scikit-learn: per-class and summary scores, groups, calibration.

Per-class precision, recall and F1 always list every class (``labels=range(C)``) with
``zero_division=0``: a class never predicted scores 0, not a warning.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

ECE_BINS = 15
GROUP_NAMES = ("many", "medium", "few")
STANDARD_RULE = ("many > 100, medium 20-100, few < 20 training images (a group without a class "
                 "is n/a)")


def _numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    """Macro-F1 over all ``num_classes`` classes (absent classes count 0)."""
    return float(f1_score(_numpy(y_true), _numpy(y_pred), labels=list(range(num_classes)),
                          average="macro", zero_division=0))


def class_groups(train_counts: list[int]) -> tuple[list[str], str]:
    """Each class's group by the standard thresholds (many > 100, medium 20–100, few < 20
    training images; Liu et al. 2019) and the rule. A group with no class is left empty (its
    score is n/a): no fallback that would call a 115-image class "few"."""
    counts = np.asarray(train_counts)
    standard = np.where(counts > 100, "many", np.where(counts >= 20, "medium", "few"))
    return standard.tolist(), STANDARD_RULE


def calibration_bins(probs: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per equal-width confidence bin: example count, summed confidence, correct predictions."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(float)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    return {"count": np.bincount(index, minlength=bins).tolist(),
            "confidence": np.bincount(index, confidence, minlength=bins).tolist(),
            "correct": np.bincount(index, correct, minlength=bins).tolist()}


def expected_calibration_error(bins: dict) -> float:
    """ECE = Σ_b n_b/N · |accuracy_b − confidence_b| from ``calibration_bins``."""
    count = np.asarray(bins["count"], dtype=float)
    if count.sum() == 0:
        return float("nan")
    gap = np.abs(np.asarray(bins["correct"]) - np.asarray(bins["confidence"]))
    return float(gap.sum() / count.sum())


def classification_report(y_true, probs, train_counts: list[int]) -> dict:
    """Every test metric of one run, JSON-able.

    Returns summary scores (``macro_f1``, ``balanced_accuracy``, ``accuracy``, ``worst_class_f1``,
    ``ece``, ``many_f1``/``medium_f1``/``few_f1``), ``per_class`` lists, the confusion matrix and
    the calibration bins.
    """
    y_true, probs = _numpy(y_true).astype(int), _numpy(probs).astype(np.float64)
    num_classes = len(train_counts)
    labels = list(range(num_classes))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    groups, rule = class_groups(train_counts)
    bins = calibration_bins(probs, y_true)
    summary = {
        "macro_f1": macro_f1(y_true, y_pred, num_classes),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "worst_class_f1": float(f1.min()),
        "ece": expected_calibration_error(bins),
    }
    for name in GROUP_NAMES:
        members = [c for c in labels if groups[c] == name]
        summary[f"{name}_f1"] = float(np.mean(f1[members])) if members else float("nan")
    return {
        "summary": summary,
        "per_class": {"precision": precision.tolist(), "recall": recall.tolist(),
                      "f1": f1.tolist(), "support": support.tolist(), "group": groups},
        "group_rule": rule,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "calibration": bins,
    }
