"""Timing: how fast the losses and the harness are, measured as ratios in one run.

``cases`` (what one kernel step times) · ``measure`` (interleaved rounds, profiler, peak memory,
``run_timing``) · ``harness`` (a bare loop, ``train()`` and Optuna trials side by side) · ``host``
(devices, hardware, load) · ``files`` (the JSON and Markdown, the one loss × shape table; no
torch, so the report reads them cheaply) · ``figure`` (the PNG) · ``gpu_check`` and
``gpu_stages`` (``lossbench gpu-check``). This package's ``__init__`` imports nothing.
"""
