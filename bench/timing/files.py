"""The timing table as files: JSON (the data), Markdown (for the report), a bar figure (PNG).

One set per device under the output folder: ``timing-cpu.json``, ``timing-cpu.md``,
``timing-cpu.png`` (and ``timing-cuda.*`` from a GPU run). The report writer embeds them with::

    from lossbench.timing.files import load_timing, timing_markdown
    tables = load_timing("results/timing")           # {"cpu": table, "cuda": table, ...}
    text = timing_markdown(tables, figures=True)     # Markdown, figures linked relative to the folder

This module reads and writes plain JSON: it imports neither torch nor the loss zoo, so the report
can read the tables without them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from lossbench.errors import UserError
from lossbench.store import atomic_write_json, atomic_write_text
from lossbench.timing.figure import plot_timing


def _file(folder: Path, device_type: str, suffix: str) -> Path:
    return Path(folder) / f"timing-{device_type}.{suffix}"


def _mark(row: dict) -> str:
    if row.get("meets_goal") is None:
        return ""
    return " ✓" if row["meets_goal"] else " ✗"


def duration(microseconds: float) -> str:
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
            f"autograd formulation.{_logits(table)}")


def _logits(table: dict) -> str:
    """Which logits the table feeds, which each loss's softmax sees, and the fed-CE ratio."""
    method = table["method"]
    text = f" Logits z: {method.get('logits', 'uniform in [-1, 1]')}"
    feeds = method.get("feeds")
    if feeds:
        text += "; each loss's softmax sees " + "; ".join(
            f"{name}: {what}" for name, what in feeds.items())
    fed = sorted({row["fed"]["logits"] for shape in table["shapes"] for row in shape["losses"]
                  if "fed" in row})
    if fed:
        text += (f". ×CE({', '.join(fed)}) in brackets after a ratio, and the column ×CE fed: "
                 f"the loss over native `F.cross_entropy` of the logits it feeds (LDAM: s·z, a "
                 f"leaf of its own), whose spread decides whether the CPU's exp underflows "
                 f"float32. Under its cosine head LDAM sees |z| ≤ 1"
                 + (", as the uniform logits here (s·z − max ≥ −60: no underflow)"
                    if method.get("logits", "uniform").startswith("uniform") else
                    "; these logits are wider, and s·z − max falls far below −87 (underflow)"))
    return text + "."


def _load(table: dict) -> str:
    load = table.get("load_average")
    return f" (host load average {load[0]:g} at the start)" if load else ""


Cells = tuple[list[str], list[list[str]]]


def summary_table(table: dict, time_label: str = "native CE (time)",
                  time_format: Callable[[float], str] = duration) -> Cells:
    """The loss × shape table (the one builder; the Markdown and the report both use it).

    Returns the header (``loss`` and each shape) and the rows: native cross-entropy's time
    (``time_label``, each median formatted by ``time_format``), then each loss's ratio to native
    cross-entropy with ✓/✗ against the goal, its plain formulation's ratio in brackets, and
    where the loss feeds other logits (LDAM: s·z) its ratio to native CE of those in [ ].
    """
    shapes = table["shapes"]
    header = ["loss"] + [s["shape"] for s in shapes]
    rows = [[time_label] + [time_format(s["reference"]["median_us"]) for s in shapes]]
    for name in (row["loss"] for row in shapes[0]["losses"]):
        cells = [name]
        for shape in shapes:
            row = next(r for r in shape["losses"] if r["loss"] == name)
            cell = f"{row['ratio_ce']:.2f}×{_mark(row)}"
            if "plain" in row:
                cell += f" ({row['plain']['ratio_ce']:.2f}×)"
            if "fed" in row:
                cell += f" [{row['ratio_fed']:.2f}× CE({row['fed']['logits']})]"
            cells.append(cell)
        rows.append(cells)
    return header, rows


def summary_markdown(table: dict) -> str:
    """Loss × shape: ratio to native cross-entropy (✓/✗ against the goal), plain's in brackets."""
    header, rows = summary_table(table)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _count(value) -> str:
    return "–" if value is None else str(value)


def shape_markdown(shape: dict) -> str:
    """Every column of one shape: time, ratios (×CE fed: over native CE of the logits the loss
    feeds, where they differ), peak memory, operator and allocation counts, and the plain
    formulation's time, ratio and memory; native CE of each fed logits has a row of its own."""
    lines = [("| loss | median | ×CE | ×CE fed | ×CE best | ×copy | peak MiB | ops | "
              "N×C allocs | plain median | plain ×CE | plain MiB | plain ops |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [("native CE", shape["reference"], None, "", "")]
    rows += [(f"native CE of {row['fed']['logits']} ({row['loss']})", row["fed"], None, "", "")
             for row in shape["losses"] if "fed" in row]
    rows.append(("logits copy", shape["floor"], None, "", ""))
    rows += [(row["loss"], row, row.get("plain"), _mark(row),
              f"{row['ratio_fed']:.2f}" if "ratio_fed" in row else "")
             for row in shape["losses"]]
    for name, row, plain, mark, fed in rows:
        plain_cells = (" | | | " if plain is None else
                       f" {duration(plain['median_us'])} | {plain['ratio_ce']:.2f} | "
                       f"{_mib(plain['peak_mib'])} | {_count(plain.get('aten_ops'))} ")
        lines.append(f"| {name} | {duration(row['median_us'])} | {row['ratio_ce']:.2f}{mark} | "
                     f"{fed} | {row['ratio_ce_min']:.2f} | {row['ratio_copy']:.2f} | "
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


def write_timing(table: dict, folder: str | Path) -> dict[str, Path]:
    """Write ``timing-<device>.json``, ``.md`` and ``.png`` into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    device = table["device_type"]
    paths = {"json": _file(folder, device, "json"), "markdown": _file(folder, device, "md"),
             "figure": _file(folder, device, "png")}
    atomic_write_json(paths["json"], table)
    plot_timing(table, paths["figure"], duration)
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


# ------------------------------------------------------------------------- the harness table
def _harness_file(folder: Path, device_type: str, suffix: str) -> Path:
    return Path(folder) / f"harness-{device_type}.{suffix}"


def harness_rows(table: dict) -> Cells:
    """The harness table's header and rows (the Markdown and the report both use it)."""
    header = ["what runs", "median", "× bare loop", "× bare loop (best)"]
    rows = [[row["label"], duration(row["median_ms"] * 1000), f"{row['ratio']:.2f}×",
             f"{row['ratio_min']:.2f}×"] for row in table["rows"]]
    return header, rows


def harness_dataset_rows(table: dict) -> Cells:
    """One row per dataset measured (``--datasets``): its recipe's size and each case's ratio
    to its own bare loop; no rows when only the first dataset was."""
    cases = [row["case"] for row in table["rows"]]
    header = ["dataset", "training rows", "epochs × batch", "bare loop"] + \
        [row["label"].split(" ", 1)[0] + " ×" for row in table["rows"][1:]]
    rows = []
    for part in table.get("datasets", []):
        recipe, by_case = part["recipe"], {row["case"]: row for row in part["rows"]}
        rows.append([recipe["dataset"], str(recipe["train_size"]),
                     f"{recipe['epochs']} × {recipe['batch_size']}",
                     duration(by_case[cases[0]]["median_ms"] * 1000)] +
                    [f"{by_case[case]['ratio']:.2f}×" for case in cases[1:]])
    return header, rows


def harness_markdown(table: dict, level: int = 2) -> str:
    """One device's harness section: where and what it measured, then the table."""
    recipe, method, env = table["recipe"], table["method"], table["environment"]
    versions = env.get("versions", {})
    threads = table["threads"]
    header, rows = harness_rows(table)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    text = (f"Device **{table['device_type']}** ({table.get('hardware', '?')}), {threads} "
            f"thread{'s' if threads != 1 else ''}; torch {versions.get('torch', '?')}, optuna "
            f"{versions.get('optuna', '?')}, lossbench {versions.get('lossbench', '?')} (commit "
            f"{env.get('git_commit', '?')[:12]}){_load(table)}. Suite `{table['suite']}`, dataset "
            f"`{recipe['dataset']}` ({recipe['train_size']} training, {recipe['val_size']} "
            f"validation rows), {recipe['model']}, loss {recipe['loss']}, {recipe['epochs']} "
            f"epochs of batch {recipe['batch_size']}, {recipe['optimizer']} with a "
            f"{recipe['schedule']} schedule, a validation pass after every epoch. Median of "
            f"{method['rounds']} interleaved rounds after {method['warmup_rounds']} warm-up "
            f"round; × bare loop: the median over rounds of the ratio within a round; best: "
            f"fastest over fastest. The trials: {method['trials']}.")
    hashes = "#" * level
    header, rows = harness_dataset_rows(table)
    if rows:
        intro = ("Every dataset measured (`--datasets`), each case's median ratio to its own "
                 "bare loop; the same rounds and method:")
        lines += ["", intro, "",
                  "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return f"{hashes} Harness timing on {table['device_type']}\n\n{text}\n\n" + \
        "\n".join(lines) + "\n"


def write_harness(table: dict, folder: str | Path) -> dict[str, Path]:
    """Write ``harness-<device>.json`` and ``.md`` into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    device = table["device_type"]
    paths = {"json": _harness_file(folder, device, "json"),
             "markdown": _harness_file(folder, device, "md")}
    atomic_write_json(paths["json"], table)
    atomic_write_text(paths["markdown"], harness_markdown(table))
    return paths


def load_harness(folder: str | Path) -> dict[str, dict]:
    """Every ``harness-<device>.json`` in ``folder`` (none: an empty dict), cpu first."""
    tables = {}
    for path in sorted(Path(folder).glob("harness-*.json"),
                       key=lambda p: (p.stem != "harness-cpu", p)):
        table = json.loads(path.read_text())
        if table.get("kind") == "lossbench-harness":
            tables[table["device_type"]] = table
    return tables
