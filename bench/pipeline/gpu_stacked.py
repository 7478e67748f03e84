"""The GPU check's ``stacked`` stage: is stacked training (``lossbench.engine.stacked``) faster?

On the ``default`` suite's first dataset (replicate 0, its model, data, budget and optimiser) it
builds K recipes for K = 2, 4, 8: the suite's losses that stack with cross-entropy, in the suite's
order and cycled, each loss's tuned parameters at the registry's defaults, the lr and weight decay
at the geometric middle of the suite's ranges, spread by ×1.05 and ×1.2 steps about it per
recipe. For each K, after ``can_stack`` says yes and one untimed warm-up of each, it times K
sequential ``train()`` calls and one ``train_stacked`` of the same K side by side (rounds
alternating which goes first, the device synchronised before each clock read), as many rounds
as the stage's time allows (up to five), and records the medians, their ratio and whether the
two give the same best validation scores. The dry run: K = 2, one round, two epochs, on the CPU.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from lossbench.pipeline.harness import geometric_middle, replicate_zero, suite_for

STACKED_SUITE = "default"
KS = (2, 4, 8)
DRY_RUN_KS = (2,)
MAX_ROUNDS = 5
DRY_RUN_EPOCHS = 2
LR_STEP, DECAY_STEP = 1.05, 1.2
SCORE_TOLERANCE = 1e-6
MIN_SECONDS = 10.0
DECISION_RULE = ("stacking becomes the CUDA default only where stacked/sequential < 1 for the "
                 "suite's K (the number of losses in one replicate)")


def stacked_setup(device: torch.device, dry_run: bool, cache_dir=None):
    """The suite, replicate 0's data of its first dataset on ``device``, and its plans."""
    suite = suite_for(STACKED_SUITE, device, DRY_RUN_EPOCHS if dry_run else None)
    return (suite, *replicate_zero(suite, device, cache_dir))


def stacked_recipes(plans, data, device: torch.device, count: int) -> list:
    """``count`` recipes of the plans that stack with the first (cycled), rates about the middle."""
    from lossbench.config.losses import info, tuned_space
    from lossbench.engine.stacked import can_stack

    def recipe(plan, lr: float, decay: float):
        name = plan.loss.registry_name
        defaults = dict(info(name).params)
        params = {key: defaults[key] for key in tuned_space(name, plan.loss.fixed)}
        return plan.recipe({"lr": lr, "weight_decay": decay, **params})

    lr, decay = geometric_middle(plans[0].optim.lr), geometric_middle(plans[0].optim.weight_decay)
    first = recipe(plans[0], lr, decay)
    fitting = [p for p in plans if can_stack([first, recipe(p, lr, decay)], data, device) is None]
    return [recipe(fitting[k % len(fitting)], lr * LR_STEP ** (k - (count - 1) / 2),
                   decay * DECAY_STEP ** (k - (count - 1) / 2)) for k in range(count)]


def stack_groups(plans, data, device: torch.device) -> list[int]:
    """Sizes of the groups ``can_stack`` allows among one replicate's studies (first fit)."""
    from lossbench.engine.stacked import can_stack

    groups: list[list] = []
    for plan in plans:
        candidate = plan.recipe({"lr": 0.1, "weight_decay": 0.0})
        for group in groups:
            if can_stack(group + [candidate], data, device) is None:
                group.append(candidate)
                break
        else:
            groups.append([candidate])
    return [len(group) for group in groups]


def _timed(step: Callable[[], Any], sync: Callable[[], None]) -> tuple[float, Any]:
    sync()
    start = time.perf_counter()
    value = step()
    sync()
    return time.perf_counter() - start, value


def _scores(sequential: list, stacked: list) -> dict:
    diffs = []
    for a, b in zip(sequential, stacked, strict=True):
        if math.isnan(a.best_score) and math.isnan(b.best_score):
            diffs.append(0.0)
        elif math.isnan(a.best_score) or math.isnan(b.best_score):
            diffs.append(None)
        else:
            diffs.append(abs(a.best_score - b.best_score))
    known = [d for d in diffs if d is not None]
    return {"scores_equal": all(d is not None and d <= SCORE_TOLERANCE for d in diffs),
            "max_abs_score_diff": max(known) if known else None,
            "sequential_scores": [round(r.best_score, 6) for r in sequential],
            "stacked_scores": [round(r.best_score, 6) for r in stacked],
            "diverged": {"sequential": sum(r.diverged is not None for r in sequential),
                         "stacked": sum(r.diverged is not None for r in stacked)}}


def measure_k(data, recipes: list, seed: int, device: torch.device, seconds: float,
              max_rounds: int) -> dict:
    """One warm-up of each, then rounds (alternating which runs first) as ``seconds`` allows."""
    from lossbench.engine.stacked import can_stack, train_stacked
    from lossbench.engine.train import train
    from lossbench.timing.host import synchronizer

    reason = can_stack(recipes, data, device)
    row: dict[str, Any] = {"k": len(recipes), "losses": [r.loss for r in recipes],
                           "lrs": [round(r.lr, 6) for r in recipes],
                           "weight_decays": [float(f"{r.weight_decay:.4g}") for r in recipes],
                           "can_stack": reason}
    if reason is not None:
        return row | {"status": f"not stackable: {reason}"}
    steps = {"sequential": lambda: [train(data, r, seed, device) for r in recipes],
             "stacked": lambda: train_stacked(data, recipes, seed, device)}
    sync, started = synchronizer(device), time.perf_counter()
    warmup = {name: _timed(step, sync)[0] for name, step in steps.items()}
    round_s = sum(warmup.values())
    rounds = max(1, min(max_rounds, int((seconds - (time.perf_counter() - started)) // round_s)))
    times: dict[str, list[float]] = {name: [] for name in steps}
    results: dict[str, list] = {}
    for number in range(rounds):
        for name in (list(steps) if number % 2 == 0 else list(reversed(steps))):
            elapsed, results[name] = _timed(steps[name], sync)
            times[name].append(elapsed)
    sequential, stacked = (statistics.median(times[name]) for name in steps)
    return row | {"status": "ok", "rounds": rounds,
                  "warmup_s": {name: round(s, 4) for name, s in warmup.items()},
                  "sequential_s": round(sequential, 4), "stacked_s": round(stacked, 4),
                  "ratio": round(stacked / sequential, 4), "stacked_faster": stacked < sequential,
                  "sequential_rounds_s": [round(s, 4) for s in times["sequential"]],
                  "stacked_rounds_s": [round(s, 4) for s in times["stacked"]],
                  **_scores(results["sequential"], results["stacked"])}


def stage_stacked(settings, clock) -> dict:
    """K sequential ``train()`` calls against one ``train_stacked``, K = 2, 4, 8 (dry run: 2)."""
    from lossbench.environment import device_name
    from lossbench.pipeline.gpu_stages import log

    device = settings.device
    record: dict[str, Any] = {"status": "ok", "suite": STACKED_SUITE,
                              "device": device_name(device), "torch": torch.__version__,
                              "decision_rule": DECISION_RULE}
    available = min(settings.stacked_s, clock.left() - settings.timing_s - 15)
    if available < MIN_SECONDS:
        return record | {"status": "skipped", "reason": "out of time"}
    started = clock.elapsed()
    deadline = started + available
    suite, entry, data, plans = stacked_setup(device, settings.dry_run, settings.cache_dir)
    budget = plans[0].budget
    record |= {"dataset": entry.name, "model": plans[0].model, "epochs": budget.epochs,
               "batch_size": budget.batch_size, "train_size": len(data.train),
               "val_size": len(data.val), "optimizer": plans[0].optim.optimizer,
               "seed": budget.tune_seed, "suite_k": len(suite.losses),
               "suite_stack_groups": stack_groups(plans, data, device), "by_k": []}
    ks = DRY_RUN_KS if settings.dry_run else KS
    for index, count in enumerate(ks):
        left = deadline - clock.elapsed()
        share = left * count / sum(ks[index:])  # the larger K, the larger its share
        if left < MIN_SECONDS / 2 or (index and share < 2 * _estimate(record["by_k"], count)):
            record["by_k"].append({"k": count, "status": "skipped", "reason": "out of time"})
            continue
        log(f"stacked: K = {count}, sequential against stacked (about {share:.0f} s)")
        try:
            row = measure_k(data, stacked_recipes(plans, data, device, count),
                            budget.tune_seed, device, share, 1 if settings.dry_run else MAX_ROUNDS)
        except Exception as error:  # noqa: BLE001  one failing K must not hide the others
            row = {"k": count, "status": f"failed: {type(error).__name__}: {error}"}
        record["by_k"].append(row)
    record["faster_at_k"] = [row["k"] for row in record["by_k"] if row.get("stacked_faster")]
    record["seconds"] = round(clock.elapsed() - started, 1)
    return record


def _estimate(rows: list[dict], count: int) -> float:
    """Seconds of one round at K = ``count``, from the last measured K (scaled by K)."""
    done = [row for row in rows if row.get("status") == "ok"]
    if not done:
        return 0.0
    last = done[-1]
    return (last["sequential_s"] + last["stacked_s"]) * count / last["k"]


__all__ = ["DECISION_RULE", "KS", "measure_k", "stack_groups", "stacked_recipes",
           "stacked_setup", "stage_stacked"]
