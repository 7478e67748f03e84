"""The GPU check: what one GPU shows in about ten minutes, written under one output folder.

    python -m lossbench.gpu_check --root cifar10-jpg.tar.gz --out results/gpu-check   (make gpu-check)
    python -m lossbench.gpu_check --dry-run --out /tmp/gpu-check     (the CPU at a tiny size)

Three stages, sharing ``--budget-s`` (default 540 s, so the whole script fits in ten minutes with
start-up), each skipped with its reason rather than failing the others. They run in the order
throughput, recipe, timing; the recipe leaves ``--timing-s`` (default 90 s) for the timing table.

1. ``throughput``: training images per second of the CIFAR-10-LT recipe's epoch (ResNet-32,
   batch 128) on lossbench's fast path (uint8 data on the device, crop and flip batched on the
   device, bf16 autocast, channels_last, and again with ``torch.compile``) against a plain loop of
   the same model and data: a ``torch.utils.data.DataLoader`` with worker processes applying
   torchvision's per-image RandomCrop and RandomHorizontalFlip, float32, default memory format.
   Both in this process, on the same device, epochs after the first (warm-up, compilation).
2. ``recipe/``: as much of the CIFAR-10-LT recipe (suite ``cifar10-lt``, exponential profile at
   ρ = 100) as the time left allows: whole 200-epoch runs of the losses in the order ce, ldam,
   balanced_softmax, focal, class_balanced, label_smoothing, logit_adjusted, … at the papers'
   parameters (no tuning; one seed), scored on the test set after selection on validation, and
   the usual report with the published numbers beside. If not even one 200-epoch run fits, it
   runs cross-entropy for the epochs that fit and says so.
3. ``timing/``: the loss timing table on the device (``lossbench timing --device cuda``), skipped
   when this lossbench has no timing command.

``gpu-check.json`` and ``gpu-check.md`` record the device, versions, command, every stage's
status, seconds and numbers. ``--dry-run`` runs all three on the CPU at a tiny size (a few
synthetic JPEG images when no ``--root`` is given), to check the script, not the GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

RECIPE_SUITE = "cifar10-lt"
RECIPE_DATASET = "cifar10-lt-exp100"
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
DEFAULT_BUDGET_S = 540.0


@dataclasses.dataclass
class Settings:
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


# ------------------------------------------------------------------------------------ stage 1
def stage_timing(settings: Settings, clock: Clock) -> dict:
    try:
        import lossbench.commands.timing  # noqa: F401
    except ImportError:
        return {"status": "skipped", "reason": "this lossbench has no timing command"}
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


# ------------------------------------------------------------------------------------ stage 2
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


def plain_epochs(data, settings: Settings, epochs: int, batch_size: int) -> list[float]:
    """Seconds of each epoch of a plain DataLoader loop (ResNet-32, float32, SGD, CE)."""
    from lossbench.engine.models import ResNet32

    device = settings.device
    torch.manual_seed(0)
    model = ResNet32(data.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    mean, std = data.mean.cpu(), data.std.cpu()
    workers = settings.workers
    loader_args = {"batch_size": batch_size, "num_workers": workers,
                   "pin_memory": device.type == "cuda", "persistent_workers": workers > 0}
    train_loader = torch.utils.data.DataLoader(
        PlainDataset(data.train.x, data.train.y, mean, std, True), shuffle=True, **loader_args)
    val_loader = torch.utils.data.DataLoader(
        PlainDataset(data.val.x, data.val.y, mean, std, False), shuffle=False, **loader_args)
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


# ------------------------------------------------------------------------------------ stage 3
def stage_recipe(settings: Settings, clock: Clock, suite, entry, prepared, data,
                 epoch_s: float | None, compile_s: float) -> dict:
    from lossbench.pipeline import suite_run as runner
    from lossbench.config.plan import LossEntry, StudyPlan
    from lossbench.progress import Progress
    from lossbench.store import ResultStore

    epochs = suite.budget.epochs
    per_epoch = epoch_s or 1.0
    eval_s = 5.0 + compile_s
    run_s = epochs * per_epoch * 1.1 + eval_s
    left = clock.left() - settings.timing_s - 15
    fits = int(max(0.0, left) // run_s)
    note = ""
    if settings.dry_run:
        losses = ["ce", "ldam"]
    elif fits >= 1:
        losses = list(LOSS_ORDER[:fits])
    else:
        epochs = int(max(0.0, left - eval_s) // (per_epoch * 1.1))
        if epochs < 1:
            return {"status": "skipped", "reason": "out of time"}
        losses = ["ce"]
        note = (f"only {epochs} of the recipe's {suite.budget.epochs} epochs fitted; the "
                "schedule is the recipe's, compressed")
    budget = dataclasses.replace(suite.budget, epochs=epochs, trials=1, seeds=1)
    suite = dataclasses.replace(suite, budget=budget, losses=tuple(
        LossEntry(name=name, fixed=dict(PAPER_PARAMS.get(name, {})) | (
            {"drw_start": 0.8} if name == "ldam" else {})) for name in losses))
    log(f"recipe: {', '.join(losses)} for {epochs} epochs each (about {run_s:.0f} s a run)")
    store = ResultStore(settings.out / "recipe")
    store.path().mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    store.write_json("suite.json", {
        "name": f"{RECIPE_SUITE} (gpu-check)", "description": (
            "Part of the CIFAR-10-LT recipe run by the GPU check: the papers' parameters for "
            "each loss, no tuning, one seed. " + note).strip(),
        "datasets": [entry.name], "losses": losses, "device_type": settings.device.type,
        "budget": dataclasses.asdict(budget), "model": dataclasses.asdict(suite.model),
        "optim": dataclasses.asdict(suite.optim)})
    plans = [StudyPlan(suite=suite.name, dataset=entry, loss=loss, model="resnet32",
                       budget=budget, model_config=suite.model, optim=suite.optim)
             for loss in suite.losses]
    chosen = {plan.loss.name: {"params": {"lr": suite.optim.lr[0],
                                          "weight_decay": suite.optim.weight_decay[0]},
                               "trials": 0, "note": "papers' parameters, not tuned"}
              for plan in plans}
    for plan in plans:
        store.write_json(f"trials/{entry.name}/{plan.loss.name}.json", chosen[plan.loss.name])
    keys = runner.final_all(plans, chosen, data, prepared, settings.device, store,
                            Progress(len(plans), enabled=False))
    runner.write_protocol(store, entry, prepared, data, plans[0])
    store.write_aggregates(set(keys))
    runner._write_environment(store, settings.device, "none (no tuning)", started_at,
                              time.perf_counter() - started)
    from lossbench.report import build_report

    build_report(store.root)
    errors = {}
    for record in store.runs():
        summary = (record.get("test") or {}).get("summary", {})
        if "accuracy" in summary:
            errors[record["loss"]] = round(100 * (1 - summary["accuracy"]), 2)
    return {"status": "ok", "losses": losses, "epochs": epochs, "note": note,
            "seconds": round(time.perf_counter() - started, 1), "test_error_pct": errors,
            "report": "recipe/report.md"}


# ------------------------------------------------------------------------------------ summary
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
    throughput = record["stages"].get("throughput", {})
    lines += ["## Training throughput (CIFAR-10-LT ρ = 100, ResNet-32)", "",
              (f"Status: {throughput.get('status')}. {throughput.get('train_images')} training "
               f"images, batch {throughput.get('batch_size')}, {throughput.get('epochs_each')} "
               "epochs each, the first left out (warm-up, compilation); an epoch includes the "
               "validation pass."), "",
              "| loop | steady epoch (s) | images/s | × plain |", "|---|---:|---:|---:|"]
    for name in ("fast", "fast_compiled", "plain_dataloader"):
        row = throughput.get(name)
        if isinstance(row, dict) and "steady_epoch_s" in row:
            lines.append(f"| {name} | {row['steady_epoch_s']} | {row['images_per_s']} | "
                         f"{row.get('speedup_vs_plain', '1.0' if name == 'plain_dataloader' else '')} |")
        elif row is not None:
            lines.append(f"| {name} | {row.get('status', row.get('reason'))} | | |")
    recipe = record["stages"].get("recipe", {})
    lines += ["", "## CIFAR-10-LT recipe", "", f"Status: {recipe.get('status')}. "
              + (f"Losses {', '.join(recipe.get('losses', []))}, {recipe.get('epochs')} epochs, "
                 f"one seed, papers' parameters. {recipe.get('note', '')} Test error %: "
                 + ", ".join(f"{k} {v}" for k, v in recipe.get("test_error_pct", {}).items())
                 + ". Report: `recipe/report.md`." if recipe.get("status") == "ok"
                 else str(recipe.get("reason", ""))), ""]
    atomic_write_text(settings.out / "gpu-check.md", "\n".join(lines))


def run_check(settings: Settings, argv: list[str]) -> dict:
    from lossbench import environment

    clock = Clock(settings.budget_s)
    settings.out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "lossbench.gpu_check", *argv]),
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
    plain_fast = stages["throughput"].get("fast", {})
    compiled = stages["throughput"].get("fast_compiled", {})
    fast, compile_s = plain_fast, 0.0
    if compiled.get("steady_epoch_s") and compiled["steady_epoch_s"] < plain_fast.get(
            "steady_epoch_s", math.inf):
        # the compiled loop is faster: the recipe uses it, and pays a compilation per model
        fast = compiled
        compile_s = compiled["epoch_seconds"][0] - compiled["steady_epoch_s"]
        suite = dataclasses.replace(suite, model=dataclasses.replace(suite.model, compile=True))
    try:
        stages["recipe"] = stage_recipe(settings, clock, suite, entry, prepared, data,
                                        fast.get("steady_epoch_s"), compile_s)
    except Exception as error:  # noqa: BLE001  the timing stage still runs
        stages["recipe"] = {"status": f"failed: {type(error).__name__}: {error}"}
    finish()
    stages["timing"] = stage_timing(settings, clock)
    return finish()


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m lossbench.gpu_check",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/gpu-check"),
                        help="output folder (default results/gpu-check)")
    parser.add_argument("--root", type=Path, default=None,
                        help="CIFAR-10: cifar10-jpg.tar.gz or a train/<class>/ tree (default: "
                             "$LOSSBENCH_CIFAR10_JPG; the dry run makes synthetic images)")
    parser.add_argument("--dry-run", action="store_true",
                        help="run every stage on the CPU at a tiny size")
    parser.add_argument("--budget-s", type=float, default=None,
                        help=f"seconds for all stages (default {DEFAULT_BUDGET_S:.0f}; "
                             "dry run 120)")
    parser.add_argument("--device", default=None, help="default cuda (dry run: cpu)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="decoded-image cache")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers of the plain loop (default: min(8, CPUs); "
                             "dry run 0)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of each throughput measurement (default 4; dry run 2)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--timing-s", type=float, default=None,
                        help="seconds the recipe leaves for the timing table (default 90; "
                             "dry run 20)")
    args = parser.parse_args(argv)
    from lossbench.engine.device import resolve_device

    device = resolve_device(args.device or ("cpu" if args.dry_run else "cuda"))
    root = args.root or (Path(os.environ["LOSSBENCH_CIFAR10_JPG"])
                         if os.environ.get("LOSSBENCH_CIFAR10_JPG") else None)
    if root is None and not args.dry_run:
        parser.error("--root is needed (or LOSSBENCH_CIFAR10_JPG): the CIFAR-10 archive or tree")
    workers = args.workers if args.workers is not None else (
        0 if args.dry_run else min(8, os.cpu_count() or 1))
    return Settings(out=args.out, root=root, dry_run=args.dry_run,
                    budget_s=args.budget_s or (120.0 if args.dry_run else DEFAULT_BUDGET_S),
                    device=device, cache_dir=args.cache_dir, workers=workers,
                    throughput_epochs=args.epochs or (2 if args.dry_run else 4),
                    compile=not args.no_compile and device.type == "cuda",
                    timing_s=args.timing_s if args.timing_s is not None else (
                        20.0 if args.dry_run else 90.0))


def main(argv: list[str] | None = None) -> int:
    from lossbench.errors import UserError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = parse_args(argv)
        if settings.dry_run and settings.root is None:
            with tempfile.TemporaryDirectory() as folder:
                settings.root = synthetic_tree(Path(folder))
                settings.cache_dir = settings.cache_dir or Path(folder) / "cache"
                record = run_check(settings, argv)
        else:
            record = run_check(settings, argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    log(f"done in {record['wall_seconds']} s: {settings.out / 'gpu-check.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
