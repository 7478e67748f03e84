"""The tiny suites the tests run, built in one place."""

from __future__ import annotations


def blobs_suite(*, name: str | None = None, losses: tuple[str, ...] = ("ce",),
                counts: tuple[int, ...] = (60, 30, 10), baselines: bool = False,
                **budget: int) -> str:
    """A suite TOML of one 4-dimensional Gaussian dataset ``blobs`` with ``counts`` rows a class;
    ``budget`` keys go into ``[budget]`` (in the order given); no baselines unless asked."""
    lines = [f'name = "{name}"'] if name else []
    lines.append("losses = [" + ", ".join(f'"{loss}"' for loss in losses) + "]")
    if not baselines:
        lines.append("baselines = []")
    lines.append("[budget]")
    lines += [f"{key} = {value}" for key, value in budget.items()]
    lines += ["[[datasets]]", 'name = "blobs"', 'source = "gaussian"',
              "options = { counts = [" + ", ".join(map(str, counts)) + "], dimension = 4 }"]
    return "\n" + "\n".join(lines) + "\n"


def imagefolder_suite(dataset_name: str | None = None) -> str:
    """A one-trial suite of ``ce`` on one ``imagefolder`` dataset at 8×8 pixels; the data root
    comes from ``run --root``."""
    name = f'name = "{dataset_name}"\n' if dataset_name else ""
    return ('name = "images"\nlosses = ["ce"]\nbaselines = []\n'
            "[budget]\ntrials = 1\nepochs = 1\nseeds = 1\n"
            f'[[datasets]]\n{name}source = "imagefolder"\noptions = {{ size = 8 }}\n')
