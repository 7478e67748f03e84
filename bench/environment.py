"""What a result must say about where it came from: versions, device, commit, host."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch
from lossbench.engine.device import device_name

PACKAGES = ("lossbench", "torch", "torchvision", "optuna", "scikit-learn", "numpy", "scipy",
            "pandas", "seaborn", "matplotlib")


def git_commit() -> str:
    """The commit of the lossbench checkout (``+dirty`` with uncommitted changes), or 'unknown'."""
    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=folder, capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if status else "")


def versions() -> dict[str, str]:
    """Installed versions of Python and of the packages results depend on."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe(device: torch.device) -> dict:
    """Versions, device, threads, host platform and commit, JSON-able."""
    return {"versions": versions(), "device": device_name(device), "device_type": device.type,
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "git_commit": git_commit()}
