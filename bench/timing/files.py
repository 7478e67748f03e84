"""The timing table as files: JSON (the data), Markdown (for the report), a bar figure (PNG).

One set per device under the output folder: ``timing-cpu.json``, ``timing-cpu.md``,
``timing-cpu.png`` (and ``timing-cuda.*`` from a GPU run). The report writer embeds them with::

    from lossbench.timing.measure import load_timing, timing_markdown
    tables = load_timing("results/timing")           # {"cpu": table, "cuda": table, ...}
    text = timing_markdown(tables, figures=True)     # Markdown, figures linked relative to the folder
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from lossbench.errors import UserError
from lossbench.store import atomic_write_bytes, atomic_write_json, atomic_write_text


def _file(folder: Path, device_type: str, suffix: str) -> Path:
    return Path(folder) / f"timing-{device_type}.{suffix}"


def _mark(row: dict) -> str:
    if row.get("meets_goal") is None:
        return ""
    return " ✓" if row["meets_goal"] else " ✗"


def _duration(microseconds: float) -> str:
    if microseconds >= 1000:
        return f"{microseconds / 1000:.2f} ms"
    return f"{microseconds:.1f} µs"


def _mib(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _header(table: dict) -> str:
    env = table["environment"]
    versions = env.get("versions", {})
    method = table["method"]
    goals = ", ".join(f"≤ {g:g}× at {s}" for s, g in table.get("goals", {}).items()) or "none set"
    threads = table["threads"]
    return (f"Device **{table['device_type']}** ({table.get('hardware', '?')}), {threads} "
            f"thread{'s' if threads != 1 else ''}; "
            f"torch {versions.get('torch', '?')}, Python {versions.get('python', '?')}, "
            f"lossbench {versions.get('lossbench', '?')} (commit {env.get('git_commit', '?')[:12]})"
            f". Step: {method['step']}, {method['dtype']}, each loss's default parameters; "
            f"median of {method['rounds']} interleaved rounds{_load(table)}. ×CE: time over native "
            f"`F.cross_entropy` forward+backward at the same shape, the median over rounds of "
            f"the ratio within a round (goal {goals}); ×CE best: fastest over fastest; ×copy: "
            f"over one copy of the logits (a floor: one pass). ops: ATen operator calls per "
            f"step (each costs µs at small shapes); N×C allocs: allocations the size of the "
            f"logits (each a pass over fresh memory at large shapes). Plain: the obvious "
            f"autograd formulation.")


def _load(table: dict) -> str:
    load = table.get("load_average")
    return f" (host load average {load[0]:g} at the start)" if load else ""


def summary_markdown(table: dict) -> str:
    """Loss × shape: ratio to native cross-entropy (✓/✗ against the goal), plain's in brackets."""
    shapes = table["shapes"]
    lines = ["| loss | " + " | ".join(s["shape"] for s in shapes) + " |",
             "|---|" + "---:|" * len(shapes),
             "| native CE (time) | " + " | ".join(_duration(s["reference"]["median_us"])
                                                  for s in shapes) + " |"]
    names = [row["loss"] for row in shapes[0]["losses"]]
    for name in names:
        cells = []
        for shape in shapes:
            row = next(r for r in shape["losses"] if r["loss"] == name)
            cell = f"{row['ratio_ce']:.2f}×{_mark(row)}"
            if "plain" in row:
                cell += f" ({row['plain']['ratio_ce']:.2f}×)"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _count(value) -> str:
    return "–" if value is None else str(value)


def shape_markdown(shape: dict) -> str:
    """Every column of one shape: time, ratios, peak memory, operator and allocation counts,
    and the plain formulation's time, ratio and memory."""
    lines = [("| loss | median | ×CE | ×CE best | ×copy | peak MiB | ops | N×C allocs | "
              "plain median | plain ×CE | plain MiB | plain ops |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [("native CE", shape["reference"], None, ""),
            ("logits copy", shape["floor"], None, "")]
    rows += [(row["loss"], row, row.get("plain"), _mark(row)) for row in shape["losses"]]
    for name, row, plain, mark in rows:
        plain_cells = (" | | | " if plain is None else
                       f" {_duration(plain['median_us'])} | {plain['ratio_ce']:.2f} | "
                       f"{_mib(plain['peak_mib'])} | {_count(plain.get('aten_ops'))} ")
        lines.append(f"| {name} | {_duration(row['median_us'])} | {row['ratio_ce']:.2f}{mark} | "
                     f"{row['ratio_ce_min']:.2f} | {row['ratio_copy']:.2f} | "
                     f"{_mib(row['peak_mib'])} | {_count(row.get('aten_ops'))} | "
                     f"{_count(row.get('full_allocs'))} |{plain_cells}|")
    return "\n".join(lines)


def _misses(table: dict) -> list[str]:
    return [f"{row['loss']} at {shape['shape']} ({row['ratio_ce']:.2f}× > {row['goal']:g}×)"
            for shape in table["shapes"] for row in shape["losses"] if row["meets_goal"] is False]


def device_markdown(table: dict, figure: str | None = None, level: int = 3) -> str:
    """One device's section: the header, the summary, each shape's details, the figure."""
    hashes = "#" * level
    device = table["device_type"]
    parts = [f"{hashes} Kernel timing on {device}", _header(table), summary_markdown(table)]
    misses = _misses(table)
    parts.append("Every loss meets its goal." if not misses and table.get("goals") else
                 "Misses the goal: " + "; ".join(misses) + "." if misses else "")
    if figure:
        parts.append(f"![forward+backward time over native cross-entropy, {device}]({figure})")
    for shape in table["shapes"]:
        parts.append(f"{hashes}# {shape['shape']} on {device}\n\n{shape_markdown(shape)}")
    return "\n\n".join(p for p in parts if p) + "\n"


def timing_markdown(tables: dict, figures: bool | str = False, level: int = 3) -> str:
    """Markdown of one table (``run_timing``'s result) or of ``load_timing``'s dict of tables.

    ``figures``: True links ``timing-<device>.png`` relative to the timing folder; a string is a
    folder (relative to the document) to link them from; False leaves them out.
    """
    if "shapes" in tables:
        tables = {tables["device_type"]: tables}
    parts = []
    for device, table in tables.items():
        figure = None
        if figures:
            name = f"timing-{device}.png"
            figure = name if figures is True else f"{str(figures).rstrip('/')}/{name}"
        parts.append(device_markdown(table, figure, level))
    return "\n".join(parts)


def plot_timing(table: dict, path: Path) -> Path:
    """Horizontal bars per shape: each loss's ratio to native CE, fused and plain, goal line."""
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
        axis.set_title(f"{shape['shape']} (CE {_duration(shape['reference']['median_us'])})",
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


def write_timing(table: dict, folder: str | Path) -> dict[str, Path]:
    """Write ``timing-<device>.json``, ``.md`` and ``.png`` into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    device = table["device_type"]
    paths = {"json": _file(folder, device, "json"), "markdown": _file(folder, device, "md"),
             "figure": _file(folder, device, "png")}
    atomic_write_json(paths["json"], table)
    plot_timing(table, paths["figure"])
    atomic_write_text(paths["markdown"], device_markdown(table, paths["figure"].name, level=2))
    return paths


def load_timing(folder: str | Path) -> dict[str, dict]:
    """Every ``timing-<device>.json`` in ``folder``, keyed by device type (cpu first)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"no timing folder at {str(folder)!r}; run 'lossbench timing' first")
    tables = {}
    for path in sorted(folder.glob("timing-*.json"), key=lambda p: (p.stem != "timing-cpu", p)):
        table = json.loads(path.read_text())
        if table.get("kind") == "lossbench-timing":
            tables[table["device_type"]] = table
    return tables
