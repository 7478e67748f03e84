"""Suites: datasets × losses × model × budget, declared as TOML and loaded into typed config.

A suite file looks like::

    name = "default"                       # optional, the file's stem otherwise
    description = "what it compares"
    losses = ["ce", "focal"]               # or "all"
    [budget]   trials = 8, epochs = 10, seeds = 3, …      (lossbench.config.Budget)
    [model]    features = "mlp", images = "small_cnn", …  (lossbench.config.ModelConfig)
    [optim]    optimizer = "sgd", lr = [0.01, 0.5], …     (lossbench.config.OptimConfig)
    [cpu]      budget/model/optim overrides used when the device is the CPU
    [loss_params.focal]  alpha = …          fixed loss parameters (removed from the search)
    [[datasets]]  source = "digits", profile = "exp", …   (lossbench.datasets.DatasetSpec)

Packaged suites live in ``lossbench/config/suites/*.toml``; any path to a ``.toml`` file works too.

Bounds, so that a hostile file is one message and not a crash or a swamped machine: a suite file
holds at most ``MAX_FILE_BYTES``, tables and arrays nest at most ``MAX_DEPTH`` levels, an array holds
at most ``MAX_ITEMS`` values, and the suite's name (the results folder ``results/<name>``) is made
of ``NAME_RULE``'s characters.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib
from lossbench.config.datasets import DatasetEntry, parse_dataset, with_options
from lossbench.config.fields import build_config
from lossbench.config.losses import check_fixed_params, resolve_baselines, resolve_losses
from lossbench.config.plan import LossEntry
from lossbench.config.schema import MAX_THREADS, Budget, ModelConfig, OptimConfig
from lossbench.errors import UserError, nearest, shown, unknown_name

TOP_KEYS = ("name", "description", "seed", "losses", "baselines", "rope", "budget", "model",
            "optim", "cpu", "loss_params", "datasets")
ROPE = 0.01
"""Default region of practical equivalence: ±0.01 test macro-F1 (one point)."""
CPU_KEYS = ("budget", "model", "optim", "dataset_options", "threads")
MAX_FILE_BYTES = 4 * 1024 * 1024
"""The largest suite file read (the packaged ones are 2-5 KB; a 10,000-class counts list is 60 KB)."""
MAX_DEPTH = 32
"""The deepest nesting of tables and arrays in a suite (the packaged ones nest 4 levels)."""
MAX_ITEMS = 10_000
"""The most values of one array of a suite (losses, per-class counts of up to 10,000 classes)."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,63}")
NAME_RULE = ("1 to 64 characters, each a letter A-Z or a-z, a digit, '.', '_', '-', '+' or '=', "
             "the first a letter or a digit")
"""What a suite name may be: it is the results folder's name, typed in shells, so no spaces, path
separators, control characters or terminal escapes, and no leading '.', '~' or '-'."""
_DOTTED_KEY = re.compile(r"""(?<![\w"'-])(?:(?:[A-Za-z0-9_-]++|"[^"\\\n]*+"|'[^'\n]*+')"""
                         r"[ \t]*+\.[ \t]*+){" + str(MAX_DEPTH) + "}")
"""A dotted key of more than ``MAX_DEPTH`` parts (``a.b.c…``): tomllib reads one in time quadratic
in its length (20,000 parts: half a minute), so it is refused before tomllib sees it."""


@dataclass(frozen=True)
class Suite:
    """A validated suite; ``for_device`` applies the ``[cpu]`` overrides."""

    name: str
    description: str
    datasets: tuple[DatasetEntry, ...]
    losses: tuple[LossEntry, ...]
    budget: Budget
    model: ModelConfig
    optim: OptimConfig
    cpu_overrides: dict
    source_text: str
    """The TOML text the suite was read from (kept with the results)."""
    cpu_threads: int | None = None
    """Torch threads on a CPU (``[cpu] threads``) unless --threads says otherwise."""
    budget_overrides: dict = dataclasses.field(default_factory=dict)
    """Budget keys given on the command line: they win over the suite's and the datasets'."""
    seed: int = 0
    """Shifts the seeds of every replicate: another ``seed`` reruns the benchmark on fresh
    draws (data, splits, tuning, training)."""
    baselines: tuple[str, ...] = ()
    """The protocol's baselines that run (``ce+posthoc``, ``ce+balanced_sampling``)."""
    rope: float = ROPE
    """Half-width of the region of practical equivalence of test macro-F1."""

    @property
    def trained(self) -> tuple[LossEntry, ...]:
        """What gets a study of its own: the losses, then the trained baselines."""
        extra = tuple(LossEntry(name="ce+balanced_sampling", fixed=dict(ce.fixed), loss="ce",
                                sampling="balanced", baseline=True)
                      for ce in self.losses if ce.name == "ce"
                      and "ce+balanced_sampling" in self.baselines)
        return self.losses + extra

    def for_device(self, device_type: str) -> Suite:
        """This suite with the ``[cpu]`` overrides applied when ``device_type`` is ``"cpu"``."""
        if device_type != "cpu" or not self.cpu_overrides:
            return self
        datasets = _with_dataset_options(self.datasets,
                                         self.cpu_overrides.get("dataset_options", {}))
        return dataclasses.replace(self, datasets=datasets,
                                   **_config_parts(self.cpu_overrides, "cpu", self))

    def with_overrides(self, losses: list[str] | None = None,
                       datasets: list[str] | None = None, seed: int | None = None,
                       **budget: int | None) -> Suite:
        """This suite with a subset of its losses or datasets, another ``seed`` and budget keys
        from the command line. The baselines need cross-entropy: a subset without ``ce`` has
        none."""
        suite = self
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 1_000_000:
                raise UserError(f"--seed must be a whole number from 0 to 1000000, "
                                f"got {shown(seed)}")
            suite = dataclasses.replace(suite, seed=seed)
        if datasets:
            names = [entry.name for entry in self.datasets]
            for name in datasets:
                if name not in names:
                    raise unknown_name(f"dataset for --datasets (suite {self.name!r} has):", name,
                                       names)
            suite = dataclasses.replace(
                suite, datasets=tuple(e for e in self.datasets if e.name in datasets))
        given = {k: v for k, v in budget.items() if v is not None}
        if given:
            build_config(Budget, given, "command line")  # validate names and limits
            suite = dataclasses.replace(suite, budget_overrides={**self.budget_overrides, **given})
        if losses:
            names = [entry.name for entry in self.losses]
            for name in losses:
                if name not in names:
                    raise unknown_name(f"loss for --losses (suite {self.name!r} has):", name, names)
            suite = dataclasses.replace(
                suite, losses=tuple(e for e in self.losses if e.name in losses),
                baselines=self.baselines if "ce" in losses else ())
        return suite

    def budget_for(self, entry: DatasetEntry) -> Budget:
        """The suite's budget, then the dataset's own keys, then the command line's."""
        budget = self.budget
        if entry.budget:
            budget = build_config(Budget, entry.budget, f"datasets.{entry.name}.budget", budget)
        if self.budget_overrides:
            budget = build_config(Budget, self.budget_overrides, "command line", budget)
        return budget

    def dataset(self, name: str) -> DatasetEntry:
        """The dataset called ``name``, or a UserError listing the suite's datasets."""
        for entry in self.datasets:
            if entry.name == name:
                return entry
        raise unknown_name(f"dataset in suite {self.name!r}:", name, [d.name for d in self.datasets])


def packaged_suites() -> list[str]:
    """Names of the suites shipped with lossbench."""
    folder = resources.files("lossbench.config.suites")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_suite(name_or_path: str | Path, dataset_options: dict | None = None) -> Suite:
    """The suite named ``name_or_path`` (packaged) or read from that path.

    ``dataset_options`` (e.g. ``{"root": path}``) go into the options of every dataset whose source
    has such an option; an option that no dataset takes is an error.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UserError(f"suite file {shown(str(path))} does not exist or is not a file")
        return parse_suite(_read_suite_file(path), default_name=path.stem,
                           origin=str(path), dataset_options=dataset_options)
    if str(name_or_path) not in packaged_suites():
        raise UserError(f"unknown suite {shown(str(name_or_path))}{nearest(str(name_or_path), packaged_suites())}; "
                        f"packaged suites: {', '.join(packaged_suites())}, or a path to a .toml file")
    text = resources.files("lossbench.config.suites").joinpath(f"{name_or_path}.toml").read_text("utf-8")
    return parse_suite(text, default_name=str(name_or_path),
                       origin=f"packaged suite {name_or_path!r}", dataset_options=dataset_options)


def suite_loss_names(name_or_path: str | Path) -> tuple[str, list[str]] | None:
    """The suite's name and its losses' names, read from its file without building the suite
    (no dataset is parsed, so torch is not imported): ``run --losses`` is checked against them
    at once. None where that reading fails; loading the suite then says what is wrong."""
    try:
        path = Path(name_or_path)
        if path.suffix == ".toml" or path.exists():
            text, default = _read_suite_file(path), path.stem
        elif str(name_or_path) in packaged_suites():
            text = resources.files("lossbench.config.suites").joinpath(
                f"{name_or_path}.toml").read_text("utf-8")
            default = str(name_or_path)
        else:
            return None
        table = tomllib.loads(text)
        return str(table.get("name", default)), resolve_losses(table.get("losses", "all"))
    except (UserError, OSError, ValueError, RecursionError):  # TOMLDecodeError is a ValueError
        return None


def _read_suite_file(path: Path) -> str:
    """The text of suite file ``path``: UTF-8, at most ``MAX_FILE_BYTES``."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UserError(f"suite file {shown(str(path))} is {size} bytes, more than the "
                        f"{MAX_FILE_BYTES} a suite file may have (they are a few kilobytes)")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"suite file {shown(str(path))} is not UTF-8 text ({error.reason} at "
                        f"byte {error.start})") from None


def parse_suite(text: str, default_name: str, origin: str = "suite",
                dataset_options: dict | None = None) -> Suite:
    """A validated Suite from TOML ``text``; every mistake is a UserError naming the key."""
    too_deep = UserError(f"{origin} is nested too deeply: tables and arrays may nest at most "
                         f"{MAX_DEPTH} levels")
    if any(line.count(".") >= MAX_DEPTH and _DOTTED_KEY.search(line)
           for line in text.splitlines()):
        raise too_deep
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{origin} is not valid TOML: {error}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise too_deep from None
    try:
        check_shape(table)
        return _parse_table(table, default_name, text, dataset_options or {})
    except UserError as error:
        raise UserError(f"{origin}: {error}") from None


def check_shape(table: dict) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and arrays longer than ``MAX_ITEMS`` (walked
    without recursion: a deep value must not overflow the stack here either)."""
    stack: list[tuple[Any, str, int]] = [(table, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UserError(f"{where} is nested too deeply: tables and arrays may nest at most "
                            f"{MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, f"{where}.{key}" if where else str(key), depth + 1)
                         for key, item in value.items())
        elif isinstance(value, list):
            if len(value) > MAX_ITEMS:
                raise UserError(f"{where} lists {len(value)} values, more than the {MAX_ITEMS} an "
                                f"array may hold: {shown(value)}")
            stack.extend((item, f"{where}[{index}]", depth + 1)
                         for index, item in enumerate(value))


def check_suite_name(name: str, default: bool = False) -> str:
    """``name`` if it is a valid suite name (``NAME_RULE``), else a UserError saying what is
    allowed; ``default``: the name was taken from the file's name."""
    if not NAME.fullmatch(name):
        hint = " (the suite file's name; set name = \"...\" in it)" if default else ""
        raise UserError(f"name must be {NAME_RULE}: it names the results folder; got "
                        f"{shown(name)}{hint}")
    return name


def _parse_table(table: dict, default_name: str, text: str, dataset_options: dict) -> Suite:
    for key in table:
        if key not in TOP_KEYS:
            raise unknown_name("top-level key", key, TOP_KEYS)
    name = check_suite_name(_string(table.get("name", default_name), "name"),
                            default="name" not in table)
    description = _string(table.get("description", ""), "description")
    cpu = table.get("cpu", {})
    if not isinstance(cpu, dict):
        raise UserError(f"cpu must be a table, got {shown(cpu)}")
    for key in cpu:
        if key not in CPU_KEYS:
            raise unknown_name("key in [cpu]:", key, CPU_KEYS)
    parts = _config_parts(table, "", None)
    _config_parts(cpu, "cpu", None)  # validate the overrides now, not on the first CPU run
    losses = _parse_losses(table.get("losses", "all"), table.get("loss_params", {}))
    datasets = _parse_datasets(table.get("datasets"), dataset_options)
    cpu_options = cpu.get("dataset_options", {})
    if not isinstance(cpu_options, dict):
        raise UserError(f"cpu.dataset_options must be a table, got {shown(cpu_options)}")
    _with_dataset_options(datasets, cpu_options)
    threads = cpu.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or not 1 <= threads <= MAX_THREADS):
        raise UserError(f"cpu.threads must be a whole number from 1 to {MAX_THREADS}, "
                        f"got {shown(threads)}")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 1_000_000:
        raise UserError(f"seed must be a whole number from 0 to 1000000, got {shown(seed)}")
    rope = table.get("rope", ROPE)
    if isinstance(rope, bool) or not isinstance(rope, (int, float)) or not 0 <= rope < 1:
        raise UserError(f"rope must be a number in [0, 1), got {shown(rope)}")
    baselines = resolve_baselines(table.get("baselines", "all"), [e.name for e in losses])
    return Suite(name=name, description=description, datasets=datasets, losses=losses,
                 cpu_overrides=cpu, source_text=text, cpu_threads=threads, seed=seed,
                 baselines=tuple(baselines), rope=float(rope), **parts)


def _config_parts(table: dict, prefix: str, base: Suite | None) -> dict:
    """Budget, model and optim from ``table`` on top of ``base``'s (or the defaults)."""
    where = f"{prefix}." if prefix else ""
    parts = {
        "budget": build_config(Budget, table.get("budget", {}), f"{where}budget",
                               base.budget if base else None),
        "model": build_config(ModelConfig, table.get("model", {}), f"{where}model",
                              base.model if base else None),
        "optim": build_config(OptimConfig, table.get("optim", {}), f"{where}optim",
                              base.optim if base else None),
    }
    for key in ("lr", "weight_decay"):
        low, high = getattr(parts["optim"], key)
        if not 0 < low <= high:
            raise UserError(f"{where}optim.{key} must be [low, high] with 0 < low <= high, "
                            f"got [{low}, {high}]")
    return parts


def _with_dataset_options(datasets: tuple[DatasetEntry, ...],
                          options: dict) -> tuple[DatasetEntry, ...]:
    """``datasets`` with ``options`` set where a dataset's source has such an option."""
    if not options:
        return datasets
    return tuple(parse_dataset(with_options(entry.table, options)[0], f"dataset {entry.name!r}")
                 for entry in datasets)


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{key} must be a string, got {shown(value)}")
    return value


def _parse_losses(value: Any, loss_params: Any) -> tuple[LossEntry, ...]:
    if not isinstance(loss_params, dict):
        raise UserError(f"loss_params must be a table of tables, got {shown(loss_params)}")
    names = resolve_losses(value)
    for name in loss_params:
        if name not in names:
            raise UserError(f"[loss_params] names {shown(name)}, which is not one of this "
                            f"suite's losses{nearest(name, names)}; the suite's losses: "
                            f"{', '.join(names)}")
    entries = []
    for name in names:
        fixed = loss_params.get(name, {})
        if not isinstance(fixed, dict):
            raise UserError(f"loss_params.{name} must be a table, got {shown(fixed)}")
        check_fixed_params(name, fixed)
        entries.append(LossEntry(name=name, fixed=dict(fixed)))
    return tuple(entries)


def _parse_datasets(value: Any, overrides: dict) -> tuple[DatasetEntry, ...]:
    if not isinstance(value, list) or not value:
        raise UserError("datasets must be a non-empty array of tables ([[datasets]] sections)")
    tables, used = [], set()
    for table in value:
        table, applied = with_options(table, overrides)
        tables.append(table)
        used.update(applied)
    unused = sorted(set(overrides) - used)
    if unused:
        raise UserError(f"no dataset of this suite takes the option(s) {', '.join(unused)} "
                        "(given on the command line)")
    entries = [parse_dataset(table, f"datasets[{i}]") for i, table in enumerate(tables)]
    for i, entry in enumerate(entries):
        if entry.budget:
            build_config(Budget, entry.budget, f"datasets[{i}].budget")
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise UserError(f"two datasets are called {entry.name!r}; give one a distinct 'name'")
        seen.add(entry.name)
    return tuple(entries)
