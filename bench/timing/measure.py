"""Kernel timing: forward+backward of every registered loss against native cross-entropy.

What is timed (``lossbench.timing.cases``): one training step of the loss alone. Every case of
one shape runs in the same process, interleaved round-robin in short blocks (each round in a new
random order, so no case always follows the same neighbour); the time of a case is the median
over blocks of the mean time per step, and its ratio to native cross-entropy is the median over
rounds of the ratio of the two blocks of that round, so drift and bursts of load on a shared
machine cancel. On CUDA each block is synchronised before the clock is read.

>>> table = run_timing([(256, 18)], device="cpu", rounds=5)        # doctest: +SKIP
>>> print(timing_markdown(table))                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import torch
from lossbench.engine.device import set_threads
from lossbench.losses import available_losses
from lossbench.timing.cases import (
    DEFAULT_LOGITS,
    DEFAULT_SHAPES,
    FED,
    FEEDS,
    FLOOR,
    IMBALANCE_RATIO,
    LOGITS,
    REFERENCE,
    Case,
    Step,
    build_cases,
    fed_label,
    long_tail_counts,
    shape_label,
)
from lossbench.timing.host import hardware, load_average, synchronizer

# The speed goals of the loss-zoo issue: loss time / native cross-entropy time at a shape.
GOALS: dict[str, dict[tuple[int, int], float]] = {
    "cpu": {(8192, 1000): 1.3, (256, 18): 2.0},
    "cuda": {(8192, 1000): 1.2},
}


def _block(step: Step, number: int, sync: Callable[[], None]) -> float:
    """Mean seconds per step over ``number`` steps, synchronised on both ends."""
    sync()
    start = time.perf_counter()
    for _ in range(number):
        step()
    sync()
    return (time.perf_counter() - start) / number


@contextlib.contextmanager
def gc_paused():
    """The garbage collector off meanwhile (a collection inside a timed block is noise)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_cases(cases: Sequence[Case], device: torch.device, rounds: int = 25,
               block_seconds: float = 0.005, seed: int = 0) -> dict[str, list[float]]:
    """Seconds per step of each case in each round (index r of every list is round r).

    Each case is warmed up, then given a step count that fills ``block_seconds``; the rounds run
    every case once each, in a fresh random order. The garbage collector is off meanwhile.
    """
    sync = synchronizer(device)
    numbers = {}
    for case in cases:
        for _ in range(3):
            case.step()
        once = min(_block(case.step, 1, sync) for _ in range(3))
        numbers[case.label] = max(1, min(10_000, round(block_seconds / max(once, 1e-7))))
    times: dict[str, list[float]] = {case.label: [] for case in cases}
    order = list(cases)
    shuffle = random.Random(seed)
    with gc_paused():
        for _ in range(rounds):
            shuffle.shuffle(order)
            for case in order:
                times[case.label].append(_block(case.step, numbers[case.label], sync))
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
        found["peak_bytes"] = _cuda_peak(step, device)
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


def _cuda_peak(step: Step, device: torch.device) -> int:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    result = step()
    torch.cuda.synchronize(device)
    del result
    return int(torch.cuda.max_memory_allocated(device) - before)


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


def median_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """The median over rounds of the ratio within a round."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def time_shape(shape: tuple[int, int], device: torch.device, names: Sequence[str], *,
               rounds: int = 25, block_seconds: float = 0.005, plain: bool = True,
               memory: bool = True, seed: int = 0, logits: str = DEFAULT_LOGITS) -> dict:
    """Time every case of one shape; returns the shape's references and one row per loss.

    A loss in ``FED`` (LDAM) also gets ``fed``: native cross-entropy of the logits it feeds
    (its time, its ratio to CE of z), and ``ratio_fed``: the loss over that, per round.
    """
    cases = build_cases(shape, device, names, plain=plain, seed=seed, logits=logits)
    times = time_cases(cases, device, rounds=rounds, block_seconds=block_seconds, seed=seed)
    full_bytes = shape[0] * shape[1] * 4  # the float32 logits
    profiles = {case.label: profile_step(case.step, device, full_bytes) if memory else {}
                for case in cases}
    reference, floor = times[REFERENCE], times[FLOOR]
    goal = GOALS.get(device.type, {}).get(tuple(shape))

    def summary(label: str) -> dict:
        series = times[label]
        return {"median_us": statistics.median(series) * 1e6, "min_us": min(series) * 1e6,
                "ratio_ce": median_ratio(series, reference),
                "ratio_ce_min": min(series) / min(reference),
                "ratio_copy": median_ratio(series, floor),
                "peak_mib": _mib(profiles[label].get("peak_bytes")),
                "aten_ops": profiles[label].get("aten_ops"),
                "full_allocs": profiles[label].get("full_allocs")}

    rows = []
    for name in names:
        row = {"loss": name, **summary(name), "goal": goal}
        row["meets_goal"] = None if goal is None else bool(row["ratio_ce"] <= goal)
        if plain:
            row["plain"] = summary(f"{name} (plain)")
        if name in FED:
            row["fed"] = {"logits": FED[name][0], **summary(fed_label(name))}
            row["ratio_fed"] = median_ratio(times[name], times[fed_label(name)])
        rows.append(row)
    return {"shape": shape_label(shape), "batch": shape[0], "classes": shape[1],
            "rounds": rounds, "reference": summary(REFERENCE), "floor": summary(FLOOR),
            "losses": rows}


def run_timing(shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES, device: str | torch.device
               = "cpu", *, threads: int | None = None, losses: Sequence[str] | None = None,
               rounds: int = 25, block_seconds: float = 0.005, plain: bool = True,
               memory: bool = True, seed: int = 0, logits: str = DEFAULT_LOGITS,
               progress: Callable[[str], None] | None = None) -> dict:
    """The timing table of one device: its environment, goals and every shape's rows.

    ``losses``: registry names (None: every registered loss; the command checks the names).
    ``logits``: "uniform" in [−1, 1] (default) or "normal", N(0, 1) (``cases.LOGITS``).
    """
    if logits not in LOGITS:
        raise ValueError(f"logits is one of {', '.join(LOGITS)}; got {logits!r}")
    from lossbench.environment import describe

    device = torch.device(device)
    set_threads(threads)
    names = list(losses) if losses is not None else available_losses()
    table = {"kind": "lossbench-timing", "environment": describe(device),
             "device_type": device.type, "threads": torch.get_num_threads(),
             "hardware": hardware(device),
             "load_average": load_average(),
             "goals": {shape_label(s): g for s, g in GOALS.get(device.type, {}).items()},
             "method": {"rounds": rounds, "block_seconds": block_seconds, "seed": seed,
                        "step": "loss(logits, target) + torch.autograd.grad(loss, logits)",
                        "dtype": "float32", "logits": LOGITS[logits],
                        "feeds": {name: FEEDS.get(name, "z") for name in names},
                        "class_counts": f"exp profile, ratio "
                        f"{IMBALANCE_RATIO:g}", "params": "each loss's defaults"},
             "shapes": []}
    for shape in shapes:
        if progress:
            progress(f"timing {shape_label(shape)} on {device.type} ...")
        table["shapes"].append(time_shape(shape, device, names, rounds=rounds,
                                          block_seconds=block_seconds, plain=plain,
                                          memory=memory, seed=seed, logits=logits))
    return table


__all__ = [
    "DEFAULT_SHAPES",
    "GOALS",
    "Case",
    "build_cases",
    "long_tail_counts",
    "median_ratio",
    "peak_memory",
    "profile_step",
    "run_timing",
    "shape_label",
    "time_cases",
    "time_shape",
]
