"""``lossbench datasets``: list the data sources; ``datasets show NAME``: classes and split counts.

    lossbench datasets
    lossbench datasets show mask --root ~/data/mask --age-cut 58 --json
    lossbench datasets show imagefolder --root cifar10-jpg.tar.gz --profile exp --imbalance-ratio 100
    lossbench datasets show mask --root ~/data/mask --decode     # decode every photo, fill the cache

Every option of every source is a flag (``--root``, ``--target``, ``--age-cut``, …); a flag the
chosen source does not have is an error listing the ones it has. Counts come without decoding
images unless ``--decode`` is given, so ``show`` is quick even on the mask photos.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lossbench.commands._table import text_table
from lossbench.errors import UserError

_SPEC_FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("profile", str, "natural, exp, step, pareto or scarce (default natural)"),
    ("imbalance_ratio", float, "largest / smallest train class, >= 1 (default 100)"),
    ("n_max", int, "train size of the largest class"),
    ("pareto_shape", float, "shape of the pareto profile (default 6)"),
    ("scarce_classes", str, "comma-separated class names or indices to cut (profile scarce)"),
    ("scarce_attribute", str, "attribute whose value picks the scarce classes, e.g. age"),
    ("scarce_value", str, "value of that attribute, e.g. '>=60' or its index 2"),
    ("scarce_fraction", float, "fraction a scarce class keeps (default 0.1)"),
    ("class_order", str, "given or shuffled"),
    ("val", str, "auto, balanced or stratified"),
    ("val_fraction", float, "validation share (default 0.2)"),
    ("val_per_class", int, "rows per class of a balanced validation split"),
    ("test", str, "auto, balanced, source or natural"),
    ("test_fraction", float, "test share (default 0.2)"),
    ("test_per_class", int, "rows per class of a balanced test split"),
    ("test_seed", int, "seed of the test split (default 0)"),
    ("name", str, "label of the dataset"),
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _source_options() -> dict[str, tuple[str, str]]:
    """Every source option name -> (its kind, its help: each text with the sources it is theirs;
    the first source that has it decides the kind)."""
    from lossbench.datasets import available_sources, get_source

    kinds: dict[str, str] = {}
    texts: dict[str, dict[str, list[str]]] = {}  # option -> help text -> sources
    for source in available_sources():
        for option in get_source(source).options:
            kinds.setdefault(option.name, option.kind)
            texts.setdefault(option.name, {}).setdefault(option.help, []).append(source)
    return {name: (kinds[name], "; ".join(f"{', '.join(where)}: {text}"
                                          for text, where in texts[name].items()))
            for name in kinds}


def _lazy(base: type[argparse.ArgumentParser]) -> type[argparse.ArgumentParser]:
    """A parser class whose arguments are added by its ``fill`` when it first parses or prints
    help: ``datasets show``'s flags come from the source registry, which imports torch, so
    building the whole command line (``lossbench --help``, ``lossbench datasets``) must not."""

    class LazyParser(base):
        fill = None

        def _filled(self) -> None:
            fill, self.fill = self.fill, None
            if fill is not None:
                fill(self)

        def parse_known_args(self, args=None, namespace=None):
            self._filled()
            return super().parse_known_args(args, namespace)

        def format_help(self) -> str:
            self._filled()
            return super().format_help()

        def format_usage(self) -> str:
            self._filled()
            return super().format_usage()

    return LazyParser


def register(subparsers) -> None:
    parser = subparsers.add_parser("datasets", help="list data sources; 'show NAME' prints counts",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION",
                                    parser_class=_lazy(type(parser)))
    show = actions.add_parser("show", help="class names and per-class counts of every split")
    show.fill = _show_arguments


def _show_arguments(show: argparse.ArgumentParser) -> None:
    """The arguments of ``datasets show`` (every source option among them)."""
    show.add_argument("name", help="a source name (see 'lossbench datasets')")
    source_group = show.add_argument_group("source options (each applies to the sources that have it)")
    for name, (kind, help_text) in sorted(_source_options().items()):
        help_text = help_text.replace("%", "%%")
        if kind == "bool":
            source_group.add_argument(_flag(name), dest=f"option_{name}", action="store_const",
                                      const="true", default=None, help=help_text)
        else:
            source_group.add_argument(_flag(name), dest=f"option_{name}", default=None,
                                      metavar=name.upper(), help=help_text)
    profile_group = show.add_argument_group("profile and splits (DatasetSpec settings)")
    for name, kind, help_text in _SPEC_FLAGS:
        profile_group.add_argument(_flag(name), dest=f"spec_{name}", type=kind, default=None,
                                   metavar=name.upper(), help=help_text)
    show.add_argument("--seed", type=int, default=0, help="run seed of the draw (default 0)")
    show.add_argument("--cache-dir", default=None, help="decoded-image cache (default: "
                      "$LOSSBENCH_CACHE or ~/.cache/lossbench)")
    show.add_argument("--decode", action="store_true",
                      help="decode every image: checks them all and fills the cache")
    show.add_argument("--json", dest="show_json", action="store_true",
                      help="print one JSON object: num_classes, class_names, counts{…}")
    show.set_defaults(func=run)


def _int_or_str(text: str) -> int | str:
    return int(text) if text.strip().lstrip("-").isdigit() else text.strip()


def spec_table(args: argparse.Namespace) -> dict[str, Any]:
    """The DatasetSpec table the flags describe (source options under ``options``)."""
    from lossbench.datasets import get_source

    source = get_source(args.name)
    allowed = [option.name for option in source.options]
    options = {}
    for key, value in vars(args).items():
        if key.startswith("option_") and value is not None:
            name = key.removeprefix("option_")
            if name not in allowed:
                flags = ", ".join(_flag(a) for a in allowed) or "none"
                raise UserError(f"{_flag(name)} is not an option of source {args.name!r}; "
                                f"its options: {flags}")
            options[name] = value
    table: dict[str, Any] = {"source": args.name, "options": options}
    for name, _, _ in _SPEC_FLAGS:
        value = getattr(args, f"spec_{name}")
        if value is not None:
            table[name] = value
    if "scarce_classes" in table:
        table["scarce_classes"] = [_int_or_str(c) for c in table["scarce_classes"].split(",") if c]
    if "scarce_value" in table:
        table["scarce_value"] = _int_or_str(table["scarce_value"])
    return table


def _table(result: dict[str, Any]) -> str:
    counts = result["counts"]
    columns = ["source", "pool", "train", "val", "test"]
    header = ["class", "name", *columns]
    rows = [[str(c), name, *(str(counts[k][c]) for k in columns)]
            for c, name in enumerate(result["class_names"])]
    rows.append(["", "total", *(str(sum(counts[k])) for k in columns)])
    description = result["description"]
    notes = (f"{result['name']}: {result['num_classes']} classes; profile "
             f"{description['profile']['name']}, val {description['val']['mode']}, "
             f"test {description['test']['mode']} (pool = source rows left once the test split "
             f"is set apart)")
    return "\n".join([notes, *text_table(header, rows, left=[1])])


def _list_sources(as_json: bool) -> int:
    from lossbench.datasets import available_sources, get_source

    sources = [get_source(name) for name in available_sources()]
    if as_json:
        print(json.dumps([{"name": s.name, "summary": s.summary,
                           "options": {o.name: {"default": o.default, "help": o.help}
                                       for o in s.options}} for s in sources],
                         indent=2, default=str))
        return 0
    width = max(len(s.name) for s in sources)
    for source in sources:
        print(f"{source.name:<{width}}  {source.summary}")
        if source.options:
            print(" " * (width + 2) + "options: " + ", ".join(_flag(o.name) for o in source.options))
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) != "show":
        return _list_sources(args.json)
    from lossbench.datasets import split_counts

    result = split_counts(spec_table(args), seed=args.seed, cache_dir=args.cache_dir,
                          decode=args.decode)
    if args.show_json or args.json:
        keys = ("name", "source", "num_classes", "class_names", "counts")
        payload = {key: result[key] for key in keys}
        payload["settings"] = {key: result["description"][key] for key in ("profile", "val", "test")}
        print(json.dumps(payload, indent=2))
    else:
        print(_table(result))
    return 0
