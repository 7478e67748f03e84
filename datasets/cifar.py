"""``cifar10`` and ``cifar100``: the original CIFAR pixels in torchvision's format, from a root.

The root holds ``cifar-10-batches-py/`` (or ``cifar-100-python/``), as
``torchvision.datasets.CIFAR10(root, download=True)`` leaves it. Nothing is downloaded unless the
option ``download`` is true; then torchvision fetches and checks the archive. The batches are read
directly (they are already uint8 pixels, so there is nothing to decode or cache). The source's own
10,000-image test split is balanced. For the JPEG copy at hand offline, use ``imagefolder``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lossbench.datasets.sources import Option, Source, SourceData, register_source
from lossbench.errors import UserError

LAYOUTS: dict[str, dict[str, Any]] = {
    "cifar10": {"folder": "cifar-10-batches-py", "title": "CIFAR-10",
                "train": [f"data_batch_{k}" for k in range(1, 6)], "test": ["test_batch"],
                "meta": "batches.meta", "names_key": "label_names", "labels_key": "labels"},
    "cifar100": {"folder": "cifar-100-python", "title": "CIFAR-100", "train": ["train"],
                 "test": ["test"], "meta": "meta", "names_key": "fine_label_names",
                 "labels_key": "fine_labels"},
}


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return pickle.load(stream, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise UserError(f"cannot read CIFAR batch file {path}: {error}") from error


def _download(name: str, root: Path) -> None:
    from torchvision import datasets

    builder = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        builder(str(root), train=True, download=True)
    except Exception as error:
        raise UserError(f"downloading {LAYOUTS[name]['title']} into {root} failed: {error}") from error


def load_cifar(name: str, options: dict[str, Any]) -> SourceData:
    """Read the train and test batches of ``name`` under ``options["root"]``."""
    layout, root = LAYOUTS[name], options["root"]
    if root is None:
        raise UserError(f"source {name!r} needs the option root: the folder holding "
                        f"{layout['folder']}/ (command line: --root PATH)")
    folder = root / layout["folder"]
    if options["download"] and not folder.is_dir():
        _download(name, root)
    missing = [f for f in layout["train"] + layout["test"] + [layout["meta"]]
               if not (folder / f).is_file()]
    if missing:
        raise UserError(f"no {layout['title']} in torchvision format under {root}: missing "
                        f"{folder}/{missing[0]}; set the option download = true (--download) to "
                        f"fetch it, or use source 'imagefolder' for a JPEG tree or archive")
    images, labels, is_test = [], [], []
    for split in ("train", "test"):
        for batch_name in layout[split]:
            batch = _read_pickle(folder / batch_name)
            pixels = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            images.append(pixels)
            labels.append(np.asarray(batch[layout["labels_key"]], dtype=np.int64))
            is_test.append(np.full(len(pixels), split == "test"))
    names = list(_read_pickle(folder / layout["meta"])[layout["names_key"]])
    return SourceData(
        x=torch.from_numpy(np.concatenate(images)), y=np.concatenate(labels), class_names=names,
        kind="images", source_test=np.concatenate(is_test),
        description={"root": str(root), "format": "torchvision", "images": int(sum(map(len, labels)))},
    )


for _name, _classes in (("cifar10", 10), ("cifar100", 100)):
    register_source(Source(
        name=_name,
        summary=f"{LAYOUTS[_name]['title']} in torchvision's format ({_classes} classes, 32x32); "
                f"downloaded only when asked",
        options=(
            Option("root", "path", None, f"folder holding {LAYOUTS[_name]['folder']}/"),
            Option("download", "bool", False, "fetch the dataset with torchvision if it is absent"),
        ),
        load=lambda options, cache_dir, decode=True, _name=_name: load_cifar(_name, options),
    ))
