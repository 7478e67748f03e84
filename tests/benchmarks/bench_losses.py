"""pytest-benchmark suite: forward+backward of every loss, its plain formulation, native
cross-entropy and a logits copy, at the timing shapes, on the CPU (and CUDA when present).

The file name does not match ``test_*.py``, so ``make test`` never collects it; ``make timing``
runs it explicitly and keeps the JSON under ``results/timing/``::

    pytest tests/benchmarks/bench_losses.py --benchmark-enable \
        --benchmark-json=results/timing/pytest-benchmark-cpu.json
    pytest-benchmark compare results/timing/pytest-benchmark-cpu.json other-commit.json

Settings come from the environment: ``LOSSBENCH_TIMING_SHAPES`` (default
``256x18,1024x100,8192x1000``), ``LOSSBENCH_TIMING_DEVICE`` (auto, cpu or cuda),
``LOSSBENCH_TIMING_THREADS``, ``LOSSBENCH_TIMING_ROUNDS`` (default 15). Benchmarks are grouped
by device and shape, so pytest-benchmark's table sets each loss beside native cross-entropy.
Pedantic mode: warm-up rounds, then ``rounds`` rounds of a step count that fills about 5 ms;
on CUDA each round ends with ``torch.cuda.synchronize()`` so the clock sees the kernels.
"""

from __future__ import annotations

import functools
import os
import time

import pytest
import torch
from lossbench.commands.timing import parse_shapes
from lossbench.engine.device import set_threads
from lossbench.losses import available_losses
from lossbench.timing.cases import build_cases, shape_label
from lossbench.timing.host import timing_devices

SHAPES = parse_shapes(os.environ.get("LOSSBENCH_TIMING_SHAPES", "256x18,1024x100,8192x1000"))
DEVICES = timing_devices(os.environ.get("LOSSBENCH_TIMING_DEVICE", "auto"))
ROUNDS = int(os.environ.get("LOSSBENCH_TIMING_ROUNDS", "15"))
if os.environ.get("LOSSBENCH_TIMING_THREADS"):
    set_threads(int(os.environ["LOSSBENCH_TIMING_THREADS"]))
LABELS = ["native_ce", "logits_copy"] + [
    label for name in available_losses() for label in (name, f"{name} (plain)")]


@functools.lru_cache(maxsize=2)
def cases_of(device: str, shape: tuple[int, int]) -> dict:
    """Every case of one device and shape, built once (the batch is shared, as in the table)."""
    return {case.label: case for case in build_cases(shape, torch.device(device),
                                                     available_losses())}


def synchronised(step, device: str):
    if device.startswith("cuda"):
        def run():
            step()
            torch.cuda.synchronize()
        return run
    return step


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_label)
@pytest.mark.parametrize("device", [str(d) for d in DEVICES])
def test_forward_backward(benchmark, device, shape, label):
    case = cases_of(device, shape)[label]
    step = synchronised(case.step, device)
    for _ in range(3):
        step()
    start = time.perf_counter()
    step()
    iterations = max(1, min(1000, round(0.005 / max(time.perf_counter() - start, 1e-7))))
    benchmark.group = f"{device} {shape_label(shape)}"
    benchmark.extra_info.update({"kind": case.kind, "loss": case.loss, "shape": shape_label(shape),
                                 "device": device, "threads": torch.get_num_threads()})
    benchmark.pedantic(step, rounds=ROUNDS, iterations=iterations, warmup_rounds=2)
