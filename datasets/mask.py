"""``mask``: the competition's face photos (context.md), from a root the user gives.

Labels come from ``train.csv`` (``labels_from = "csv"``, the default) or from the folder names
(``labels_from = "folders"``); see ``mask_layout`` for the layout and what is ignored. The group of
a row is its person id, so splits never put one person on both sides. Photos are resized to
``size`` × ``size`` (the whole 384×512 photo, squeezed, so the mask and chin stay in view), decoded
once and cached as uint8; target and age cut are applied after the cache, so changing them is free.

Targets: ``class`` (18 classes, mask·6 + gender·3 + age band) or one attribute: ``mask``,
``gender``, ``age``. Age bands: <30, 30…age_cut−1, ≥age_cut; ``age_cut`` defaults to 60 (teams
moved it to 57–58 to enlarge the scarce band). Known label mistakes can be corrected by person id
with ``flip_gender`` and ``swap_incorrect_normal``; nothing is corrected unless asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lossbench.datasets import mask_labels as labels
from lossbench.datasets.cache import cache_key, load_cached, save_cached
from lossbench.datasets.images import decode_many
from lossbench.datasets.mask_layout import (
    Person,
    find_layout,
    list_photos,
    read_people_csv,
    read_people_folders,
)
from lossbench.datasets.sources import Option, Source, SourceData, register_source
from lossbench.errors import UserError

TARGETS = ("class", "mask", "gender", "age")


def _check_ids(ids: list[str], people: list[Person], option: str) -> set[str]:
    known = {person.person_id for person in people}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UserError(f"{option} names person id(s) {', '.join(unknown)} not in the data")
    return set(ids)


def _stamp(path: Path) -> tuple[str, int, int]:
    """Path, size and time of a photo; stat first, so a symlink loop is an OSError (one message
    from the command line) rather than ``resolve``'s RuntimeError."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def decode_cached(paths: list[Path], size: int, cache_dir: Path) -> tuple[Any, bool]:
    """(N, 3, size, size) uint8 photos, from the cache when the files are unchanged; (x, was_cached)."""
    stats = [_stamp(path) for path in paths]
    key = cache_key("mask", files=stats, size=size)
    entry = load_cached(cache_dir, key)
    if entry is not None and entry.get("count") == len(paths):
        return entry["x"], True
    x = decode_many([(str(path), path) for path in paths], size=size)
    save_cached(cache_dir, key, {"x": x, "count": len(paths)})
    return x, False


def _target(target: str, mask: np.ndarray, gender: np.ndarray, age: np.ndarray,
            age_cut: int) -> tuple[np.ndarray, list[str], dict[str, list[str]]]:
    """Labels, class names and per-class attributes for ``target``."""
    ages = labels.age_names(age_cut)
    if target == "class":
        return mask * 6 + gender * 3 + age, labels.class_names(age_cut), \
            labels.class_attributes(age_cut)
    values = {"mask": (mask, list(labels.MASK_NAMES)),
              "gender": (gender, list(labels.GENDER_NAMES)), "age": (age, ages)}
    y, names = values[target]
    return y, names, {target: names}


def load_mask(options: dict[str, Any], cache_dir: Path, decode: bool = True) -> SourceData:
    """Read the persons, list their photos, decode (or reuse) the images and build the labels.

    With ``decode=False`` only the folders are read: labels, groups and counts, ``x`` is None.
    """
    if options["root"] is None:
        raise UserError("source 'mask' needs the option root: the folder holding train/images/ "
                        "(command line: --root PATH)")
    age_cut, size = labels.check_age_cut(options["age_cut"]), options["size"]
    if size < 8:
        raise UserError(f"option size of source 'mask' must be >= 8; got {size}")
    images_dir, csv_path = find_layout(options["root"])
    from_csv = options["labels_from"] == "csv"
    people = read_people_csv(csv_path, images_dir) if from_csv else read_people_folders(images_dir)
    flip = _check_ids(options["flip_gender"], people, "flip_gender")
    swap = _check_ids(options["swap_incorrect_normal"], people, "swap_incorrect_normal")
    group_of = {pid: index for index, pid in enumerate(sorted({p.person_id for p in people}))}
    paths, rows, skipped = [], [], 0
    for person in people:
        photos, ignored = list_photos(person)
        skipped += ignored
        gender = 1 - person.gender if person.person_id in flip else person.gender
        band = labels.age_band(person.age, age_cut)
        for path, mask in photos:
            if person.person_id in swap and mask in (1, 2):
                mask = 3 - mask
            paths.append(path)
            rows.append((mask, gender, band, group_of[person.person_id]))
    table = np.asarray(rows, dtype=np.int64)
    x, cached = decode_cached(paths, size, cache_dir) if decode else (None, False)
    y, names, attributes = _target(options["target"], table[:, 0], table[:, 1], table[:, 2],
                                   age_cut)
    listed = {person.folder.name for person in people}
    unlisted = [e.name for e in images_dir.iterdir() if e.is_dir() and not e.name.startswith(".")
                and e.name not in listed]
    return SourceData(
        x=x, y=y.astype(np.int64), class_names=names, kind="images", groups=table[:, 3],
        class_attributes=attributes,
        attribute_values={"mask": list(labels.MASK_NAMES), "gender": list(labels.GENDER_NAMES),
                          "age": labels.age_names(age_cut)},
        description={
            "root": str(options["root"]), "labels_from": options["labels_from"],
            "target": options["target"], "age_cut": age_cut, "size": size,
            "persons": len(people), "images": len(paths), "from_cache": cached,
            "persons_by_gender": np.bincount([1 - p.gender if p.person_id in flip else p.gender
                                              for p in people], minlength=2).tolist(),
            "persons_by_age_band": np.bincount([labels.age_band(p.age, age_cut) for p in people],
                                               minlength=3).tolist(),
            "skipped_files": skipped, "folders_not_in_csv": len(unlisted) if from_csv else 0,
            "flip_gender": sorted(flip), "swap_incorrect_normal": sorted(swap),
        },
    )


register_source(Source(
    name="mask",
    summary="the mask competition's photos (18 classes: mask x gender x age band), grouped by person",
    options=(
        Option("root", "path", None, "folder holding train/images/ (and train/train.csv)"),
        Option("target", "str", "class", "label: class (18), mask, gender or age", TARGETS),
        Option("age_cut", "int", 60, "first age of the oldest band (teams used 57-58)"),
        Option("size", "int", 64, "photos are resized to size x size pixels"),
        Option("labels_from", "str", "csv", "read labels from train.csv or the folder names",
               ("csv", "folders")),
        Option("flip_gender", "ids", [], "person ids whose gender label is corrected (flipped)"),
        Option("swap_incorrect_normal", "ids", [],
               "person ids whose incorrect_mask and normal photos are swapped back"),
    ),
    load=load_mask,
))
