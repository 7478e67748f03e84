"""Choosing the device, the CPU threads and the seeds."""

from __future__ import annotations

import random

import numpy as np
import torch
from lossbench.engine.devices import DEVICE_CHOICES  # re-exported: the torch-free home
from lossbench.errors import UserError


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(name: str | None = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; a named device must be available."""
    name = (name or "auto").lower()
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise UserError(f"unknown device {name!r}; allowed: {', '.join(DEVICE_CHOICES)} "
                        "(cuda:N for one GPU)")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    if base == "mps" and not _mps_available():
        raise UserError("device 'mps' was asked for but MPS is not available; use --device cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """A readable description of ``device`` (the GPU's model where there is one)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads > 1 else ''})"
    return device.type


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads for torch (None keeps torch's choice)."""
    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
