"""The timing table's bar figure (PNG): each loss's ratio to native cross-entropy per shape."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from lossbench.store import atomic_write_bytes


def plot_timing(table: dict, path: Path, duration: Callable[[float], str]) -> Path:
    """Horizontal bars per shape: each loss's ratio to native CE, fused and plain, goal line;
    ``duration`` formats native CE's time (µs) in each panel's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    shapes = table["shapes"]
    names = [row["loss"] for row in shapes[0]["losses"]]
    figure, axes = plt.subplots(1, len(shapes), figsize=(3.4 * len(shapes) + 1.4,
                                                         0.34 * len(names) + 1.5),
                                sharey=True, squeeze=False)
    positions = list(range(len(names)))
    for axis, shape in zip(axes[0], shapes):
        rows = {row["loss"]: row for row in shape["losses"]}
        fused = [rows[n]["ratio_ce"] for n in names]
        has_plain = all("plain" in rows[n] for n in names)
        height = 0.4 if has_plain else 0.7
        if has_plain:
            plain = [rows[n]["plain"]["ratio_ce"] for n in names]
            axis.barh([p + 0.2 for p in positions], plain, height=height, color="#c9c9c9",
                      label="plain autograd formulation")
        axis.barh([p - (0.2 if has_plain else 0) for p in positions], fused, height=height,
                  color="#4c72b0", label="lossbench")
        axis.axvline(1.0, color="#c44e52", linewidth=1, label="native cross-entropy")
        goal = shape["losses"][0].get("goal")
        if goal:
            axis.axvline(goal, color="#c44e52", linestyle="--", linewidth=1, label="goal")
        top = max(fused + (plain if has_plain else []) + [goal or 1.0])
        axis.set_xlim(0, top * 1.08)
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))
        axis.set_title(f"{shape['shape']} (CE {duration(shape['reference']['median_us'])})",
                       fontsize=9)
        axis.set_xlabel("time / native cross-entropy", fontsize=8)
        axis.grid(axis="x", alpha=0.3)
        axis.tick_params(labelsize=8)
    axes[0][0].set_yticks(positions, names)
    axes[0][0].invert_yaxis()
    handles, labels = axes[0][-1].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    figure.legend(unique.values(), unique.keys(), loc="lower center", ncol=len(unique),
                  fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.04))
    threads = table["threads"]
    figure.suptitle(f"forward+backward, {table['device_type']} ({table.get('hardware', '')}), "
                    f"{threads} thread{'s' if threads != 1 else ''}", fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)
