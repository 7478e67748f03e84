"""Kernel timing: forward+backward of every registered loss against native cross-entropy.

What is timed is one training step of the loss alone: ``loss(logits, target)`` then the gradient
with respect to the logits (``torch.autograd.grad``), on float32 logits that require grad. Every
case of one shape runs in the same process, interleaved round-robin in short blocks (each round
in a new random order, so no case always follows the same neighbour); the time of a case is the
median over blocks of the mean time per step, and its ratio to native cross-entropy is the
median over rounds of the ratio of the two blocks of that round, so drift and bursts of load on
a shared machine cancel. On CUDA each block is synchronised before the clock is read.

Reference rows of each shape: ``torch.nn.functional.cross_entropy`` (the denominator of every
ratio) and one copy of the logits (a floor: one pass over the data). Each loss is timed as the
module ``build_loss`` makes (what training runs) and as its plain autograd formulation
(``loss_info(name).plain``), so the table shows what the fused version saves.

>>> table = run_timing([(256, 18)], device="cpu", rounds=5)        # doctest: +SKIP
>>> print(timing_markdown(table))                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from lossbench.errors import UserError
from lossbench.losses import available_losses, build_loss, loss_info
from lossbench.timing.files import load_timing, plot_timing, timing_markdown, write_timing

DEFAULT_SHAPES: tuple[tuple[int, int], ...] = ((256, 18), (1024, 100), (8192, 1000))
DEVICE_CHOICES = ("auto", "cpu", "cuda")
# The speed goals of the loss-zoo issue: loss time / native cross-entropy time at a shape.
GOALS: dict[str, dict[tuple[int, int], float]] = {
    "cpu": {(8192, 1000): 1.3, (256, 18): 2.0},
    "cuda": {(8192, 1000): 1.2},
}
REFERENCE = "native_ce"
FLOOR = "logits_copy"
IMBALANCE_RATIO = 100.0
Step = Callable[[], object]


@dataclass(frozen=True)
class Case:
    """One timed thing: ``kind`` is "reference", "floor", "loss" or "plain"; ``loss`` its loss."""

    label: str
    kind: str
    loss: str
    step: Step


def shape_label(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def parse_shape(text: str) -> tuple[int, int]:
    """``"256x18"`` -> (256, 18): rows (batch size) by classes (at least 2)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        rows, classes = (int(part) for part in parts)
    except ValueError:
        raise UserError(f"a shape is ROWSxCLASSES such as 256x18; got {text!r}") from None
    if rows < 1 or classes < 2:
        raise UserError(f"a shape needs at least 1 row and 2 classes; got {text!r}")
    return rows, classes


def parse_shapes(text: str | Sequence[str]) -> list[tuple[int, int]]:
    """Comma-separated (or a list of) shapes, e.g. ``"256x18,8192x1000"``."""
    items = text.split(",") if isinstance(text, str) else list(text)
    shapes = [parse_shape(item.strip()) for item in items if item.strip()]
    if not shapes:
        raise UserError(f"give at least one shape such as 256x18; got {text!r}")
    return shapes


def parse_losses(names: str | Sequence[str] | None) -> list[str]:
    """Loss names to time (None: every registered loss); an unknown name is a UserError."""
    allowed = available_losses()
    if names is None:
        return allowed
    chosen = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
    chosen = [n for n in chosen if n]
    for name in chosen:
        try:
            loss_info(name)
        except ValueError as error:
            raise UserError(str(error)) from None
    if not chosen:
        raise UserError(f"give at least one loss; available: {', '.join(allowed)}")
    return chosen


def resolve_devices(name: str) -> list[torch.device]:
    """``auto``: the CPU, and CUDA too when present; ``cpu``; ``cuda`` (which must be present)."""
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES:
        raise UserError(f"unknown device {name!r}; allowed: {', '.join(DEVICE_CHOICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA GPU is available; "
                        "use --device cpu")
    if name == "auto":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available()
                                        else [])
    return [torch.device(name)]


def long_tail_counts(num_classes: int, n_max: int = 1000) -> list[int]:
    """An exponential profile, largest/smallest = 100: the class counts losses are built with."""
    return [max(1, round(n_max * IMBALANCE_RATIO ** (-c / (num_classes - 1))))
            for c in range(num_classes)]


def hardware(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and core count (``/proc/cpuinfo`` where there is one)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info
                          if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def _load_average() -> list[float] | None:
    """The host's 1, 5 and 15-minute load averages: other work competing for the cores."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def make_batch(shape: tuple[int, int], device: torch.device, seed: int = 0):
    """Float32 logits uniform in [−1, 1] (a leaf that requires grad) and int64 targets.

    Cosine-like logits: LDAM expects normalised logits and multiplies them by s = 30; wider
    logits would push its probabilities below 1e-38, into the denormal range where x86 CPUs
    take microcode assists and every kernel (native cross-entropy of 30·z too) slows down.
    """
    generator = torch.Generator().manual_seed(seed)
    rows, classes = shape
    logits = (torch.rand(rows, classes, generator=generator) * 2.0 - 1.0).to(device)
    target = torch.randint(0, classes, (rows,), generator=generator).to(device)
    return logits.requires_grad_(), target


def training_step(loss_fn: Callable, logits: torch.Tensor, target: torch.Tensor) -> Step:
    """Forward and backward of ``loss_fn`` with respect to the logits, as training runs it."""

    def step():
        return torch.autograd.grad(loss_fn(logits, target), logits)

    return step


def build_cases(shape: tuple[int, int], device: torch.device, names: Iterable[str],
                plain: bool = True, seed: int = 0) -> list[Case]:
    """The reference, the floor, and each loss (module, and its plain formulation) at ``shape``."""
    logits, target = make_batch(shape, device, seed)
    counts = long_tail_counts(shape[1])
    cases = [Case(REFERENCE, "reference", "", training_step(F.cross_entropy, logits, target)),
             Case(FLOOR, "floor", "", lambda: logits.detach().clone())]
    for name in names:
        info = loss_info(name)
        module = build_loss(name, shape[1], class_counts=counts).to(device)
        cases.append(Case(name, "loss", name, training_step(module, logits, target)))
        if plain:
            extra = [counts] if info.needs_class_counts else []
            params = {k: v for k, v in info.params.items() if k != "weight"
                      and k in _plain_params(info.plain)}

            def plain_fn(x, t, fn=info.plain, extra=extra, params=params):
                return fn(x, t, *extra, **params)

            cases.append(Case(f"{name} (plain)", "plain", name,
                              training_step(plain_fn, logits, target)))
    return cases


def _plain_params(fn: Callable) -> set[str]:
    import inspect

    return set(inspect.signature(fn).parameters)


def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _block(step: Step, number: int, sync: Callable[[], None]) -> float:
    """Mean seconds per step over ``number`` steps, synchronised on both ends."""
    sync()
    start = time.perf_counter()
    for _ in range(number):
        step()
    sync()
    return (time.perf_counter() - start) / number


def time_cases(cases: Sequence[Case], device: torch.device, rounds: int = 25,
               block_seconds: float = 0.005, seed: int = 0) -> dict[str, list[float]]:
    """Seconds per step of each case in each round (index r of every list is round r).

    Each case is warmed up, then given a step count that fills ``block_seconds``; the rounds run
    every case once each, in a fresh random order. The garbage collector is off meanwhile.
    """
    sync = _synchronizer(device)
    numbers = {}
    for case in cases:
        for _ in range(3):
            case.step()
        once = min(_block(case.step, 1, sync) for _ in range(3))
        numbers[case.label] = max(1, min(10_000, round(block_seconds / max(once, 1e-7))))
    times: dict[str, list[float]] = {case.label: [] for case in cases}
    order = list(cases)
    shuffle = random.Random(seed)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            shuffle.shuffle(order)
            for case in order:
                times[case.label].append(_block(case.step, numbers[case.label], sync))
    finally:
        if enabled:
            gc.enable()
    return times


def profile_step(step: Step, device: torch.device, full_bytes: int) -> dict:
    """Peak memory, ATen operator calls and full-size allocations of one step.

    ``peak_bytes``: bytes allocated at the peak of the step beyond what was allocated before
    it; on CUDA the caching allocator's peak statistic, on the CPU the PyTorch profiler's
    memory events (``profile_memory=True``) summed in time order, whose running maximum is the
    peak. ``aten_ops``: operator calls the dispatcher saw at top level (from Python or from an
    autograd node, views included) — at small shapes each costs a few µs whatever its size.
    ``full_allocs``: allocations of at least ``full_bytes`` (the logits' size) — at large shapes
    each is a pass over fresh memory, page faults included on the CPU. None where unknown.
    """
    from torch.profiler import ProfilerActivity, profile

    step()
    found = {"peak_bytes": None, "aten_ops": None, "full_allocs": None}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        result = step()
        torch.cuda.synchronize(device)
        found["peak_bytes"] = int(torch.cuda.max_memory_allocated(device) - before)
        del result
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = step()
        del result
    found["aten_ops"] = _top_level_aten_ops(prof.events())
    try:
        kind = "CUDA" if device.type == "cuda" else "CPU"
        memory = sorted((event.start_ns(), event.nbytes())
                        for event in prof.profiler.kineto_results.events()
                        if event.name() == "[memory]" and str(event.device_type()).endswith(kind))
    except AttributeError:  # a torch whose profiler keeps its events elsewhere: no numbers
        return found
    found["full_allocs"] = sum(1 for _, nbytes in memory if nbytes >= full_bytes)
    if found["peak_bytes"] is None:
        running = itertools.accumulate(nbytes for _, nbytes in memory)
        found["peak_bytes"] = int(max(running, default=0))
    return found


def _top_level_aten_ops(events) -> int:
    count = 0
    for event in events:
        if not event.name.startswith("aten::"):
            continue
        parent = event.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        count += parent is None
    return count


def peak_memory(step: Step, device: torch.device) -> int | None:
    """Bytes allocated at the peak of one step beyond what was allocated before it."""
    return profile_step(step, device, full_bytes=2**62)["peak_bytes"]


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 meanwhile: the profiler's C++ side logs its start and stop."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _mib(nbytes: int | None) -> float | None:
    return None if nbytes is None else nbytes / 2**20


def _median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def time_shape(shape: tuple[int, int], device: torch.device, names: Sequence[str], *,
               rounds: int = 25, block_seconds: float = 0.005, plain: bool = True,
               memory: bool = True, seed: int = 0) -> dict:
    """Time every case of one shape; returns the shape's references and one row per loss."""
    cases = build_cases(shape, device, names, plain=plain, seed=seed)
    times = time_cases(cases, device, rounds=rounds, block_seconds=block_seconds, seed=seed)
    full_bytes = shape[0] * shape[1] * 4  # the float32 logits
    profiles = {case.label: profile_step(case.step, device, full_bytes) if memory else {}
                for case in cases}
    reference, floor = times[REFERENCE], times[FLOOR]
    goal = GOALS.get(device.type, {}).get(tuple(shape))

    def summary(label: str) -> dict:
        series = times[label]
        return {"median_us": statistics.median(series) * 1e6, "min_us": min(series) * 1e6,
                "ratio_ce": _median_ratio(series, reference),
                "ratio_ce_min": min(series) / min(reference),
                "ratio_copy": _median_ratio(series, floor),
                "peak_mib": _mib(profiles[label].get("peak_bytes")),
                "aten_ops": profiles[label].get("aten_ops"),
                "full_allocs": profiles[label].get("full_allocs")}

    rows = []
    for name in names:
        row = {"loss": name, **summary(name), "goal": goal}
        row["meets_goal"] = None if goal is None else bool(row["ratio_ce"] <= goal)
        if plain:
            row["plain"] = summary(f"{name} (plain)")
        rows.append(row)
    return {"shape": shape_label(shape), "batch": shape[0], "classes": shape[1],
            "rounds": rounds, "reference": summary(REFERENCE), "floor": summary(FLOOR),
            "losses": rows}


def run_timing(shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES, device: str | torch.device
               = "cpu", *, threads: int | None = None, losses: Sequence[str] | None = None,
               rounds: int = 25, block_seconds: float = 0.005, plain: bool = True,
               memory: bool = True, seed: int = 0,
               progress: Callable[[str], None] | None = None) -> dict:
    """The timing table of one device: its environment, goals and every shape's rows."""
    from lossbench.environment import describe

    device = torch.device(device)
    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads must be at least 1; got {threads}")
        torch.set_num_threads(threads)
    names = parse_losses(losses)
    table = {"kind": "lossbench-timing", "environment": describe(device),
             "device_type": device.type, "threads": torch.get_num_threads(),
             "hardware": hardware(device),
             "load_average": _load_average(),
             "goals": {shape_label(s): g for s, g in GOALS.get(device.type, {}).items()},
             "method": {"rounds": rounds, "block_seconds": block_seconds, "seed": seed,
                        "step": "loss(logits, target) + torch.autograd.grad(loss, logits)",
                        "dtype": "float32", "logits": "uniform in [-1, 1]",
                        "class_counts": f"exp profile, ratio "
                        f"{IMBALANCE_RATIO:g}", "params": "each loss's defaults"},
             "shapes": []}
    for shape in shapes:
        if progress:
            progress(f"timing {shape_label(shape)} on {device.type} ...")
        table["shapes"].append(time_shape(shape, device, names, rounds=rounds,
                                          block_seconds=block_seconds, plain=plain,
                                          memory=memory, seed=seed))
    return table


__all__ = [
    "DEFAULT_SHAPES",
    "GOALS",
    "Case",
    "build_cases",
    "load_timing",
    "long_tail_counts",
    "parse_shape",
    "parse_shapes",
    "peak_memory",
    "plot_timing",
    "profile_step",
    "run_timing",
    "time_cases",
    "time_shape",
    "timing_markdown",
    "write_timing",
]
