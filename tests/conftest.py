"""Fixtures shared by every test module."""

import os

import pytest
import torch


@pytest.fixture(autouse=True)
def restore_threads():
    """Runs set torch's thread count (one thread is steady on a shared machine); restore it after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# The devices a test taking the ``device`` fixture runs on: the CPU, and CUDA where there is one.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Each available device in turn (cpu; cuda when ``torch.cuda.is_available()``)."""
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request) -> torch.dtype:
    """float32 (what training runs) and float64 (where fused and plain agree to rounding)."""
    return request.param


# Tests count trainings and processes: `lossbench run` is sequential unless a test asks for
# `--workers N` (the command's own default spreads studies over the CPU cores).
os.environ.setdefault("LOSSBENCH_WORKERS", "1")
