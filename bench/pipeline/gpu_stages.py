"""The GPU check's stages: training throughput, the CIFAR-10-LT recipe, the timing table (and
``lossbench.pipeline.gpu_stacked``: is stacked training faster).

Each returns a JSON-able record with its ``status``; ``lossbench.pipeline.gpu_check`` runs them
under one time budget with a fourth, ``stacked`` (``lossbench.pipeline.gpu_stacked``; see its
docstring for what each measures). The settings and the clock they share live here too.
"""

from __future__ import annotations

import dataclasses
import itertools
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

RECIPE_SUITE = "cifar10-lt"
RECIPE_DATASET = "cifar10-lt-exp100"
NO_STORAGE = "none (no tuning)"
LOSS_ORDER = ("ce", "ldam", "balanced_softmax", "focal", "class_balanced", "label_smoothing",
              "logit_adjusted", "weighted_ce", "poly", "soft_f1")
PAPER_PARAMS: dict[str, dict[str, Any]] = {
    # the papers' settings where a loss has parameters (Cao et al. 2019; Cui et al. 2019;
    # Zhang et al. 2021); lr and weight decay come from the suite (0.1, 2e-4)
    "ldam": {"max_margin": 0.5},
    "focal": {"gamma": 1.0},
    "class_balanced": {"beta": 0.9999, "base": "focal", "gamma": 1.0},
    "label_smoothing": {"smoothing": 0.1},
    "logit_adjusted": {"tau": 1.0},
    "weighted_ce": {"power": 1.0},
    "poly": {"epsilon": 1.0},
}


@dataclasses.dataclass
class Settings:
    """What one GPU check runs (``lossbench.pipeline.gpu_check.make_settings`` fills the defaults)."""

    out: Path
    root: Path | None
    dry_run: bool
    budget_s: float
    device: torch.device
    cache_dir: Path | None
    workers: int
    throughput_epochs: int
    compile: bool
    timing_s: float
    stacked_s: float = 60.0
    """The most seconds of the ``stacked`` stage (``lossbench.pipeline.gpu_stacked``)."""


class Clock:
    """Seconds since the start and seconds left of the budget."""

    def __init__(self, budget_s: float) -> None:
        self.started, self.budget_s = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed()


def log(message: str) -> None:
    print(f"[gpu-check] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- throughput
class PlainDataset(torch.utils.data.Dataset):
    """Images as a plain loop sees them: one uint8 image at a time, torchvision transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std, train: bool) -> None:
        from torchvision.transforms import v2

        self.images, self.labels = images.cpu(), labels.cpu()
        steps = [v2.RandomCrop(images.shape[-1], padding=max(1, images.shape[-1] // 8)),
                 v2.RandomHorizontalFlip()] if train else []
        self.transform = v2.Compose(steps + [
            v2.ToDtype(torch.float32, scale=False),
            v2.Normalize(mean.flatten().tolist(), std.flatten().tolist())])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]


def _plain_loaders(data, settings: Settings, batch_size: int):
    mean, std = data.mean.cpu(), data.std.cpu()
    workers = settings.workers
    loader_args = {"batch_size": batch_size, "num_workers": workers,
                   "pin_memory": settings.device.type == "cuda", "persistent_workers": workers > 0}
    train_loader = torch.utils.data.DataLoader(
        PlainDataset(data.train.x, data.train.y, mean, std, True), shuffle=True, **loader_args)
    val_loader = torch.utils.data.DataLoader(
        PlainDataset(data.val.x, data.val.y, mean, std, False), shuffle=False, **loader_args)
    return train_loader, val_loader


def plain_epochs(data, settings: Settings, epochs: int, batch_size: int) -> list[float]:
    """Seconds of each epoch of a plain DataLoader loop (ResNet-32, float32, SGD, CE)."""
    from lossbench.engine.models import ResNet32

    device = settings.device
    torch.manual_seed(0)
    model = ResNet32(data.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    train_loader, val_loader = _plain_loaders(data, settings, batch_size)
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            predictions = [model(images.to(device, non_blocking=True)).argmax(1).cpu()
                           for images, _ in val_loader]
        del predictions
        seconds.append(time.perf_counter() - started)
    return seconds


def fast_epochs(data, suite, settings: Settings, epochs: int, compile_model: bool) -> list[float]:
    """Seconds of each epoch of lossbench's own loop with the recipe (validation pass included)."""
    from lossbench.config.plan import Recipe
    from lossbench.engine.train import train

    budget = dataclasses.replace(suite.budget, epochs=epochs)
    model_config = dataclasses.replace(suite.model, compile=compile_model)
    recipe = Recipe(loss="ce", loss_params={}, lr=0.1, weight_decay=2e-4, model="resnet32",
                    budget=budget, model_config=model_config, optim=suite.optim)
    stamps = [time.perf_counter()]
    train(data, recipe, 0, settings.device, on_epoch=lambda epoch, score: stamps.append(
        time.perf_counter()))
    return [b - a for a, b in itertools.pairwise(stamps)]


def _rate(seconds: list[float], images: int) -> dict:
    steady = seconds[1:] or seconds
    epoch = statistics.median(steady)
    return {"epoch_seconds": [round(s, 3) for s in seconds], "steady_epoch_s": round(epoch, 4),
            "images_per_s": round(images / epoch, 1)}


def stage_throughput(settings: Settings, clock: Clock, suite, data) -> dict:
    epochs = settings.throughput_epochs
    images, batch = len(data.train), suite.budget.batch_size
    result: dict[str, Any] = {"status": "ok", "train_images": images, "batch_size": batch,
                              "epochs_each": epochs, "model": "resnet32",
                              "dataloader_workers": settings.workers}
    runs = [("fast", lambda: fast_epochs(data, suite, settings, epochs, False)),
            ("plain_dataloader", lambda: plain_epochs(data, settings, epochs, batch))]
    if settings.compile:
        runs.insert(1, ("fast_compiled", lambda: fast_epochs(data, suite, settings, epochs, True)))
    for name, run in runs:
        if clock.left() < 30:
            result[name] = {"status": "skipped", "reason": "out of time"}
            continue
        log(f"throughput: {name}, {epochs} epochs of {images} images")
        try:
            result[name] = _rate(run(), images)
        except Exception as error:  # noqa: BLE001  one failing loop must not hide the others
            result[name] = {"status": f"failed: {type(error).__name__}: {error}"}
    plain = result.get("plain_dataloader", {}).get("steady_epoch_s")
    for name in ("fast", "fast_compiled"):
        fast = result.get(name, {}).get("steady_epoch_s")
        if plain and fast:
            result[name]["speedup_vs_plain"] = round(plain / fast, 2)
    return result


# ----------------------------------------------------------------------------------- recipe
def recipe_losses(settings: Settings, clock: Clock, suite, epoch_s: float | None,
                  compile_s: float) -> tuple[list[str], int, str, float] | None:
    """Which losses and how many epochs fit in the time left, a note, and the seconds a run
    takes (None: not even one epoch fits)."""
    epochs = suite.budget.epochs
    per_epoch = epoch_s or 1.0
    eval_s = 5.0 + compile_s
    run_s = epochs * per_epoch * 1.1 + eval_s
    left = clock.left() - settings.timing_s - 15
    fits = int(max(0.0, left) // run_s)
    if settings.dry_run:
        return ["ce", "ldam"], epochs, "", run_s
    if fits >= 1:
        return list(LOSS_ORDER[:fits]), epochs, "", run_s
    epochs = int(max(0.0, left - eval_s) // (per_epoch * 1.1))
    if epochs < 1:
        return None
    return ["ce"], epochs, (f"only {epochs} of the recipe's {suite.budget.epochs} epochs "
                            "fitted; the schedule is the recipe's, compressed"), run_s


def _recipe_plans(suite, entry, losses: list[str], epochs: int):
    from lossbench.config.plan import LossEntry, StudyPlan

    budget = dataclasses.replace(suite.budget, epochs=epochs, trials=1, seeds=1)
    suite = dataclasses.replace(suite, budget=budget, losses=tuple(
        LossEntry(name=name, fixed=dict(PAPER_PARAMS.get(name, {})) | (
            {"drw_start": 0.8} if name == "ldam" else {})) for name in losses))
    plans = [StudyPlan(suite=suite.name, dataset=entry, loss=loss, model="resnet32",
                       budget=budget, model_config=suite.model, optim=suite.optim)
             for loss in suite.losses]
    return suite, plans


def stage_recipe(settings: Settings, clock: Clock, suite, entry, prepared, data,
                 epoch_s: float | None, compile_s: float) -> dict:
    from lossbench.pipeline import suite_run
    from lossbench.pipeline.setup import Session
    from lossbench.progress import Progress
    from lossbench.report import build_report
    from lossbench.store import ResultStore

    fitted = recipe_losses(settings, clock, suite, epoch_s, compile_s)
    if fitted is None:
        return {"status": "skipped", "reason": "out of time"}
    losses, epochs, note, run_s = fitted
    suite, plans = _recipe_plans(suite, entry, losses, epochs)
    log(f"recipe: {', '.join(losses)} for {epochs} epochs each (about {run_s:.0f} s a run)")
    store = ResultStore(settings.out / "recipe")
    store.path().mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    store.write_json(store.suite_json, {
        "name": f"{RECIPE_SUITE} (gpu-check)", "description": (
            "Part of the CIFAR-10-LT recipe run by the GPU check: the papers' parameters for "
            "each loss, no tuning, one seed. " + note).strip(),
        "datasets": [entry.name], "losses": losses, "device_type": settings.device.type,
        "budget": dataclasses.asdict(suite.budget), "model": dataclasses.asdict(suite.model),
        "optim": dataclasses.asdict(suite.optim)})
    chosen = {plan.loss.name: {"params": {"lr": suite.optim.lr[0],
                                          "weight_decay": suite.optim.weight_decay[0]},
                               "trials": 0, "note": "papers' parameters, not tuned"}
              for plan in plans}
    for plan in plans:
        store.write_json(store.chosen_json(entry.name, plan.loss.name, plan.replicate),
                         chosen[plan.loss.name])
    # no tuning, so no study storage: the final runs need only the device and the store
    session = Session(settings.device, store, NO_STORAGE, None, 0)
    progress = Progress(len(plans), enabled=False)
    suite_run.final_all(plans, chosen, data, prepared, session, progress)
    suite_run.write_protocol(store, entry, prepared, data, plans[0])
    store.write_aggregates()
    suite_run.write_environment(store, settings.device, NO_STORAGE, started_at,
                                time.perf_counter() - started)
    build_report(store.root)
    return {"status": "ok", "losses": losses, "epochs": epochs, "note": note,
            "seconds": round(time.perf_counter() - started, 1),
            "test_error_pct": _test_errors(store), "report": "recipe/report.md"}


def _test_errors(store) -> dict[str, float]:
    errors = {}
    for record in store.runs():
        summary = (record.get("test") or {}).get("summary", {})
        if "accuracy" in summary:
            errors[record["loss"]] = round(100 * (1 - summary["accuracy"]), 2)
    return errors


# ----------------------------------------------------------------------------------- timing
def stage_timing(settings: Settings, clock: Clock) -> dict:
    """The loss timing table on the device, in a child process with a time limit."""
    out = settings.out / "timing"
    command = [sys.executable, "-m", "lossbench.cli", "timing", "--out", str(out)]
    if settings.dry_run:
        command += ["--device", "cpu", "--shapes", "64x10", "--rounds", "3", "--block-ms", "1",
                    "--losses", "ce,focal", "--no-memory", "--no-plain"]
    else:
        command += ["--device", "cuda"]
    limit = max(10.0, min(clock.left(), 180.0))
    log(f"timing table: {shlex.join(command)} (limit {limit:.0f} s)")
    started = time.perf_counter()
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True,
                              timeout=limit)
    except subprocess.TimeoutExpired:
        return {"status": "timed out", "limit_s": limit, "command": shlex.join(command)}
    (settings.out / "timing.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode}, see timing.log)"
    return {"status": status, "seconds": round(time.perf_counter() - started, 1),
            "command": shlex.join(command), "files": sorted(p.name for p in out.glob("*"))}
