"""Reading the mask competition layout: person folders, ``train.csv``, photo names.

Layout: ``<root>/train/images/<id>_<gender>_<race>_<age>/`` (or ``<root>/images/…``) with seven
photos a person, ``mask1``…``mask5`` (worn), ``incorrect_mask`` and ``normal`` (not worn), as .jpg,
.jpeg or .png; ``train.csv`` beside ``images/`` with columns ``id, gender, race, age, path``.
Hidden files and folders (``._*``, ``.DS_Store``) are ignored; other non-image files are skipped and
counted. Every problem is a ``UserError`` naming the folder, file or csv line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from lossbench.datasets import mask_labels as labels
from lossbench.datasets.images import is_hidden, is_image_name
from lossbench.errors import UserError

FOLDER_PATTERN = re.compile(r"^(?P<id>[^_]+)_(?P<gender>[^_]+)_(?P<race>.+)_(?P<age>\d+)$")
CSV_COLUMNS = ("id", "gender", "race", "age", "path")


@dataclass(frozen=True)
class Person:
    """One person of the data: id, gender index, race, age in years and photo folder."""

    person_id: str
    gender: int
    race: str
    age: int
    folder: Path


def _gender_index(value: str, where: str) -> int:
    gender = value.strip().lower()
    if gender not in labels.GENDER_NAMES:
        raise UserError(f"{where}: gender {value!r} is not one of "
                        f"{', '.join(labels.GENDER_NAMES)}")
    return labels.GENDER_NAMES.index(gender)


def _age(value: str, where: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError as error:
        raise UserError(f"{where}: age {value!r} is not a whole number") from error


def parse_folder_name(name: str, images_dir: Path) -> Person:
    """``000001_female_Asian_45`` -> Person; a name that does not parse is an error naming it."""
    match = FOLDER_PATTERN.match(name)
    if match is None:
        raise UserError(f"folder name {name!r} in {images_dir} does not parse as "
                        f"<id>_<gender>_<race>_<age> (e.g. 000001_female_Asian_45)")
    where = f"folder {name!r}"
    return Person(match["id"], _gender_index(match["gender"], where), match["race"],
                  _age(match["age"], where), images_dir / name)


def find_layout(root: Path) -> tuple[Path, Path]:
    """Return (images folder, train.csv path) for ``root`` or ``root/train``."""
    if not root.exists():
        raise UserError(f"mask root {root} does not exist")
    if not root.is_dir():
        raise UserError(f"mask root {root} is not a folder")
    for base in (root / "train", root):
        if (base / "images").is_dir():
            return base / "images", base / "train.csv"
    raise UserError(f"no mask data under {root}: expected {root}/train/images/"
                    f"<id>_<gender>_<race>_<age>/ (or {root}/images/…)")


def read_people_csv(csv_path: Path, images_dir: Path) -> list[Person]:
    """Persons from ``train.csv`` (columns id, gender, race, age, path), folders checked."""
    if not csv_path.is_file():
        raise UserError(f"train.csv not found at {csv_path}; add it, or set the source option "
                        f"labels_from = 'folders' to read the labels from the folder names")
    with csv_path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in CSV_COLUMNS if c not in columns]
        if missing:
            raise UserError(f"{csv_path} lacks column(s) {', '.join(missing)}; it has "
                            f"{', '.join(columns) or 'none'} (needed: {', '.join(CSV_COLUMNS)})")
        people: dict[str, tuple[int, Person]] = {}
        for line, row in enumerate(reader, start=2):
            row = {key.strip(): (value or "").strip() for key, value in row.items() if key}
            where = f"{csv_path} line {line}"
            folder = images_dir / row["path"]
            if not row["path"] or not folder.is_dir():
                raise UserError(f"{where}: folder {row['path']!r} not found in {images_dir}")
            person = Person(row["id"], _gender_index(row["gender"], where), row["race"],
                            _age(row["age"], where), folder)
            if row["path"] in people and people[row["path"]][1] != person:
                raise UserError(f"{where}: folder {row['path']!r} is listed again with other "
                                f"labels (first on line {people[row['path']][0]})")
            people.setdefault(row["path"], (line, person))  # an identical repeat is harmless
    if not people:
        raise UserError(f"{csv_path} lists no persons")
    return [person for _, person in people.values()]


def read_people_folders(images_dir: Path) -> list[Person]:
    """Persons from the folder names under ``images_dir`` (hidden folders ignored)."""
    people = [parse_folder_name(entry.name, images_dir) for entry in sorted(images_dir.iterdir())
              if entry.is_dir() and not is_hidden(entry.name)]
    if not people:
        raise UserError(f"no person folders in {images_dir}")
    return people


def list_photos(person: Person) -> tuple[list[tuple[Path, int]], int]:
    """(photo path, mask label) pairs of one person in stem order, and the count of skipped files."""
    photos: dict[str, Path] = {}
    skipped = 0
    for entry in sorted(person.folder.iterdir()):
        if is_hidden(entry.name) or entry.is_dir():
            continue
        if not is_image_name(entry.name):
            skipped += 1
            continue
        stem = entry.name.rsplit(".", 1)[0]
        if stem not in labels.MASK_OF_STEM:
            raise UserError(f"photo {entry} has an unknown name {stem!r}; expected one of "
                            f"{', '.join(labels.MASK_OF_STEM)} with .jpg, .jpeg or .png")
        if stem in photos:
            raise UserError(f"person folder {person.folder} has two {stem!r} photos: "
                            f"{photos[stem].name} and {entry.name}")
        photos[stem] = entry
    if not photos:
        raise UserError(f"person folder {person.folder} holds no photos")
    order = list(labels.MASK_OF_STEM)
    return [(photos[s], labels.MASK_OF_STEM[s]) for s in order if s in photos], skipped
