"""The GPU check: what one GPU shows in about ten minutes, written under one output folder.

    lossbench gpu-check --root cifar10-jpg.tar.gz --out results/gpu-check     (make gpu-check)
    lossbench gpu-check --dry-run --out /tmp/gpu-check       (the CPU at a tiny size)

Four stages, sharing ``--budget-s`` (default 540 s, so the whole script fits in ten minutes with
start-up), each skipped with its reason rather than failing the others. They run in the order
throughput, stacked, recipe, timing; the recipe leaves ``--timing-s`` (default 90 s) for the
timing table, and the stacked stage takes at most ``Settings.stacked_s`` (60 s; dry run 30 s).

1. ``throughput``: training images per second of the CIFAR-10-LT recipe's epoch (ResNet-32,
   batch 128) on lossbench's fast path (uint8 data on the device, crop and flip batched on the
   device, bf16 autocast, channels_last, and again with ``torch.compile``) against a plain loop of
   the same model and data: a ``torch.utils.data.DataLoader`` with worker processes applying
   torchvision's per-image RandomCrop and RandomHorizontalFlip, float32, default memory format.
   Both in this process, on the same device, epochs after the first (warm-up, compilation).
2. ``stacked``: whether stacked training (``lossbench.engine.stacked``) is faster on the device:
   on the ``default`` suite's first dataset, K sequential ``train()`` calls against one
   ``train_stacked`` of the same K recipes (K = 2, 4, 8), with the ratio, whether the best
   validation scores agree, and the rule that decides stacking's CUDA default
   (``lossbench.pipeline.gpu_stacked``).
3. ``recipe/``: as much of the CIFAR-10-LT recipe (suite ``cifar10-lt``, exponential profile at
   ρ = 100) as the time left allows: whole 200-epoch runs of the losses in the order ce, ldam,
   balanced_softmax, focal, class_balanced, label_smoothing, logit_adjusted, … at the papers'
   parameters (no tuning; one seed), scored on the test set after selection on validation, and
   the usual report with the published numbers beside. If not even one 200-epoch run fits, it
   runs cross-entropy for the epochs that fit and says so.
4. ``timing/``: the loss timing table on the device (``lossbench timing --device cuda``, in a
   child process with a time limit).

``gpu-check.json`` and ``gpu-check.md`` record the device, versions, command, every stage's
status, seconds and numbers. ``--dry-run`` runs all four on the CPU at a tiny size (a few
synthetic JPEG images when no ``--root`` is given), to check the script, not the GPU.
The stages are in ``lossbench.pipeline.gpu_stages`` (``stacked`` in ``gpu_stacked``); the command
is ``lossbench.commands.gpu_check``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from lossbench.errors import UserError
from lossbench.pipeline.gpu_stacked import stage_stacked
from lossbench.pipeline.gpu_stages import (
    RECIPE_DATASET,
    RECIPE_SUITE,
    Clock,
    Settings,
    log,
    stage_recipe,
    stage_throughput,
    stage_timing,
)

DEFAULT_BUDGET_S = 540.0
DRY_RUN_BUDGET_S = 120.0


def make_settings(*, out: Path, root: Path | None = None, dry_run: bool = False,
                  budget_s: float | None = None, device: str | None = None,
                  cache_dir: Path | None = None, workers: int | None = None,
                  epochs: int | None = None, compile: bool = True,
                  timing_s: float | None = None, stacked_s: float | None = None) -> Settings:
    """The settings of one check, each None filled with its default (the dry run's own)."""
    from lossbench.engine.device import resolve_device

    resolved = resolve_device(device or ("cpu" if dry_run else "cuda"))
    root = root or (Path(os.environ["LOSSBENCH_CIFAR10_JPG"])
                    if os.environ.get("LOSSBENCH_CIFAR10_JPG") else None)
    if root is None and not dry_run:
        raise UserError("--root is needed (or LOSSBENCH_CIFAR10_JPG): the CIFAR-10 archive "
                        "(cifar10-jpg.tar.gz) or a train/<class>/ tree; or use --dry-run")
    if workers is None:
        workers = 0 if dry_run else min(8, os.cpu_count() or 1)
    return Settings(out=Path(out), root=root, dry_run=dry_run,
                    budget_s=budget_s or (DRY_RUN_BUDGET_S if dry_run else DEFAULT_BUDGET_S),
                    device=resolved, cache_dir=cache_dir, workers=workers,
                    throughput_epochs=epochs or (2 if dry_run else 4),
                    compile=compile and resolved.type == "cuda",
                    timing_s=timing_s if timing_s is not None else (20.0 if dry_run else 90.0),
                    stacked_s=stacked_s if stacked_s is not None else (30.0 if dry_run else 60.0))


# ----------------------------------------------------------------------------------------- data
def synthetic_tree(folder: Path, per_class: int = 12, test_per_class: int = 2,
                   side: int = 16) -> Path:
    """A tiny CIFAR-10-like JPEG tree (ten classes, ``side``² pixels) for the dry run."""
    from lossbench.report.literature import CIFAR10_CLASSES
    from torchvision.io import encode_jpeg

    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", per_class), ("test", test_per_class)):
        for c, name in enumerate(CIFAR10_CLASSES):
            target = folder / "cifar10-synthetic" / split / name
            target.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                image = torch.randint(0, 256, (3, side, side), dtype=torch.uint8, generator=generator)
                image[c % 3] = image[c % 3] // 2 + 100  # a faint class signal
                with warnings.catch_warnings():  # torchvision 0.29 deprecates its JPEG codec
                    warnings.simplefilter("ignore", DeprecationWarning)
                    encoded = encode_jpeg(image)
                (target / f"{k:04d}.jpg").write_bytes(encoded.numpy().tobytes())
    return folder / "cifar10-synthetic"


def recipe_suite(settings: Settings):
    """The ``cifar10-lt`` suite on its ρ = 100 dataset, shrunk to a tiny size for the dry run."""
    from lossbench.config.suite import load_suite

    suite = load_suite(RECIPE_SUITE, dataset_options={"root": settings.root})
    entry = suite.dataset(RECIPE_DATASET)
    if settings.dry_run:
        from lossbench.config.datasets import parse_dataset

        table = {**entry.table, "n_max": 8, "imbalance_ratio": 4, "val_per_class": 2}
        entry = parse_dataset(table, "dry run")
        suite = dataclasses.replace(suite, budget=dataclasses.replace(
            suite.budget, epochs=2, batch_size=32, eval_batch_size=256))
    model = dataclasses.replace(suite.model, compile=False)
    return dataclasses.replace(suite, datasets=(entry,), model=model)


def load_data(settings: Settings, suite):
    from lossbench.engine.data import train_val_view
    from lossbench.pipeline.suite_run import load_prepared

    entry = suite.datasets[0]
    prepared = load_prepared(entry, suite.budget_for(entry).data_seed, settings.cache_dir)
    return entry, prepared, train_val_view(prepared).to(settings.device)


# ------------------------------------------------------------------------------------ summary
def _throughput_lines(throughput: dict) -> list[str]:
    lines = ["## Training throughput (CIFAR-10-LT ρ = 100, ResNet-32)", "",
             (f"Status: {throughput.get('status')}. {throughput.get('train_images')} training "
              f"images, batch {throughput.get('batch_size')}, {throughput.get('epochs_each')} "
              "epochs each, the first left out (warm-up, compilation); an epoch includes the "
              "validation pass."), "",
             "| loop | steady epoch (s) | images/s | × plain |", "|---|---:|---:|---:|"]
    for name in ("fast", "fast_compiled", "plain_dataloader"):
        row = throughput.get(name)
        if isinstance(row, dict) and "steady_epoch_s" in row:
            speedup = row.get("speedup_vs_plain", "1.0" if name == "plain_dataloader" else "")
            lines.append(f"| {name} | {row['steady_epoch_s']} | {row['images_per_s']} | "
                         f"{speedup} |")
        elif row is not None:
            lines.append(f"| {name} | {row.get('status', row.get('reason'))} | | |")
    return lines


def _recipe_lines(recipe: dict) -> list[str]:
    if recipe.get("status") != "ok":
        detail = str(recipe.get("reason", ""))
    else:
        detail = (f"Losses {', '.join(recipe.get('losses', []))}, {recipe.get('epochs')} epochs, "
                  f"one seed, papers' parameters. {recipe.get('note', '')} Test error %: "
                  + ", ".join(f"{k} {v}" for k, v in recipe.get("test_error_pct", {}).items())
                  + ". Report: `recipe/report.md`.")
    return ["", "## CIFAR-10-LT recipe", "", f"Status: {recipe.get('status')}. " + detail, ""]


def _stacked_lines(stacked: dict) -> list[str]:
    reason = f" {stacked['reason']}." if stacked.get("reason") else ""
    lines = ["", "## Stacked training (K recipes at once against one after another)", "",
             f"Status: {stacked.get('status')}.{reason}"]
    if stacked.get("status") != "ok":
        return [*lines, ""]
    lines += [(f"Suite `{stacked.get('suite')}`, {stacked.get('dataset')}, "
               f"{stacked.get('model')}, {stacked.get('epochs')} epochs, on "
               f"{stacked.get('device')} (torch {stacked.get('torch')}); the suite's K is "
               f"{stacked.get('suite_k')} losses (stackable groups "
               f"{stacked.get('suite_stack_groups')}). Rule: {stacked.get('decision_rule')}."), "",
              ("| K | rounds | sequential (s) | stacked (s) | stacked/sequential | "
               "best scores equal (max diff) |"), "|---:|---:|---:|---:|---:|---|"]
    for row in stacked.get("by_k", []):
        if row.get("status") == "ok":
            lines.append(f"| {row['k']} | {row['rounds']} | {row['sequential_s']} | "
                         f"{row['stacked_s']} | {row['ratio']} | {row['scores_equal']} "
                         f"({row['max_abs_score_diff']}) |")
        else:
            lines.append(f"| {row.get('k')} | {row.get('status')} {row.get('reason', '')} "
                         "| | | | |")
    return [*lines, ""]


def write_summary(settings: Settings, record: dict) -> None:
    from lossbench.store import atomic_write_json, atomic_write_text

    atomic_write_json(settings.out / "gpu-check.json", record)
    lines = [f"# lossbench GPU check{' (dry run on the CPU)' if settings.dry_run else ''}", "",
             f"- Command: `{record['command']}`", f"- Device: {record['device']}",
             f"- Started: {record['started_at']}; wall time {record['wall_seconds']} s",
             f"- Commit: `{record['environment'].get('git_commit', 'n/a')}`",
             "- Versions: " + ", ".join(f"{k} {v}" for k, v in
                                        record["environment"].get("versions", {}).items()), ""]
    timing = record["stages"].get("timing", {})
    lines += ["## Timing table", "", f"Status: {timing.get('status')}; see `timing/`.", ""]
    lines += _throughput_lines(record["stages"].get("throughput", {}))
    lines += _recipe_lines(record["stages"].get("recipe", {}))
    if "stacked" in record["stages"]:
        lines += _stacked_lines(record["stages"]["stacked"])
    atomic_write_text(settings.out / "gpu-check.md", "\n".join(lines))


# ------------------------------------------------------------------------------------ the run
def _recipe_speed(settings: Settings, suite, throughput: dict):
    """The loop the recipe uses (the compiled one where faster) and its compile seconds."""
    fast, compiled = throughput.get("fast", {}), throughput.get("fast_compiled", {})
    if compiled.get("steady_epoch_s") and compiled["steady_epoch_s"] < fast.get(
            "steady_epoch_s", math.inf):
        # the compiled loop is faster: the recipe uses it, and pays a compilation per model
        compile_s = compiled["epoch_seconds"][0] - compiled["steady_epoch_s"]
        suite = dataclasses.replace(suite, model=dataclasses.replace(suite.model, compile=True))
        return suite, compiled.get("steady_epoch_s"), compile_s
    return suite, fast.get("steady_epoch_s"), 0.0


def run_check(settings: Settings, command: str) -> dict:
    """Every stage under the budget; writes ``gpu-check.json`` and ``.md`` after each."""
    from lossbench import environment

    clock = Clock(settings.budget_s)
    settings.out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dry_run": settings.dry_run, "budget_s": settings.budget_s,
        "device": str(settings.device), "environment": environment.describe(settings.device),
        "stages": {}}
    stages = record["stages"]

    def finish() -> dict:
        record["wall_seconds"] = round(clock.elapsed(), 1)
        write_summary(settings, record)
        return record

    suite = recipe_suite(settings)
    log("preparing CIFAR-10-LT")
    entry, prepared, data = load_data(settings, suite)
    stages["throughput"] = stage_throughput(settings, clock, suite, data)
    finish()
    try:
        stages["stacked"] = stage_stacked(settings, clock)
    except Exception as error:  # noqa: BLE001  the recipe and the timing stages still run
        stages["stacked"] = {"status": f"failed: {type(error).__name__}: {error}"}
    finish()
    suite, epoch_s, compile_s = _recipe_speed(settings, suite, stages["throughput"])
    try:
        stages["recipe"] = stage_recipe(settings, clock, suite, entry, prepared, data,
                                        epoch_s, compile_s)
    except Exception as error:  # noqa: BLE001  the timing stage still runs
        stages["recipe"] = {"status": f"failed: {type(error).__name__}: {error}"}
    finish()
    stages["timing"] = stage_timing(settings, clock)
    return finish()


def check(settings: Settings, command: str) -> dict:
    """Run the check; a dry run without ``--root`` makes its synthetic images in a temp folder."""
    if not (settings.dry_run and settings.root is None):
        return run_check(settings, command)
    with tempfile.TemporaryDirectory() as folder:
        settings = dataclasses.replace(settings, root=synthetic_tree(Path(folder)),
                                       cache_dir=settings.cache_dir or Path(folder) / "cache")
        return run_check(settings, command)


__all__ = ["Settings", "check", "make_settings", "run_check"]
