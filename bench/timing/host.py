"""Where a timing runs: the devices ``--device`` names, the hardware, the host's load, and how
to wait for a device's queued work before reading the clock."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

import torch
from lossbench.engine.device import resolve_device


def timing_devices(name: str | None) -> list[torch.device]:
    """The devices ``--device`` names for timing: ``auto`` is the CPU, and CUDA too when present;
    any other name is resolved (and checked) by ``lossbench.engine.device.resolve_device``."""
    if (name or "auto").lower() == "auto":
        return [torch.device("cpu")] + ([resolve_device("cuda")] if torch.cuda.is_available()
                                        else [])
    return [resolve_device(name)]


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


def load_average() -> list[float] | None:
    """The host's 1, 5 and 15-minute load averages: other work competing for the cores."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def synchronizer(device: torch.device) -> Callable[[], None]:
    """Waits for the device's queued kernels (a no-op on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None
