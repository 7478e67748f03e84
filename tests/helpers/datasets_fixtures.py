"""Tiny datasets written by the tests themselves (no binary fixtures in the repository).

``make_mask_dataset`` writes the mask competition layout with real JPEG/PNG files; each photo is one
flat colour that encodes its labels (``photo_colour``), so a
test can check that every decoded image sits next to the right label. ``make_image_folder`` writes a
``train/<class>/`` + ``test/<class>/`` tree, optionally packed as ``.tar.gz``.
"""

from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import lossbench.datasets.images  # noqa: F401  silences torchvision's per-call deprecation warning
import torch
from torchvision.io import encode_jpeg, encode_png

STEMS = ("mask1", "mask2", "mask3", "mask4", "mask5", "incorrect_mask", "normal")
MASK_OF = {**{f"mask{k}": 0 for k in range(1, 6)}, "incorrect_mask": 1, "normal": 2}
SUFFIXES = (".jpg", ".jpeg", ".png")
#: Ages around the band edges (29/30, 57/58, 59/60); 4+ persons per gender and band at cut 60.
AGES = (18, 22, 25, 29, 30, 45, 57, 58, 59, 60, 61, 75, 80)


def default_people() -> list[tuple[str, str, str, int]]:
    """(id, gender, race, age) rows: every age of ``AGES`` for both genders, 26 persons."""
    people = []
    for g, gender in enumerate(("male", "female")):
        for a, age in enumerate(AGES):
            people.append((f"{g * 100 + a + 1:06d}", gender, "Asian", age))
    return people


def photo_colour(mask: int, gender: int, age: int) -> tuple[int, int, int]:
    """Red = mask · 100, green = gender · 200, blue = 10 + 18 · (position of age in AGES): steps
    wide enough to survive JPEG."""
    return mask * 100, gender * 200, 10 + 18 * AGES.index(age) if age in AGES else 0


def read_colour(pixel: tuple[int, int, int]) -> tuple[int, int, int]:
    """Back from a decoded colour to (mask, gender, age)."""
    red, green, blue = (int(v) for v in pixel)
    return (red + 50) // 100, (green + 100) // 200, AGES[(blue - 10 + 9) // 18]


def write_image(path: Path, colour: tuple[int, int, int], height: int = 16, width: int = 12) -> None:
    """A flat-colour image, encoded as PNG or JPEG by the path's suffix."""
    image = torch.tensor(colour, dtype=torch.uint8).view(3, 1, 1).expand(3, height, width)
    image = image.contiguous()
    encoded = encode_png(image) if path.suffix == ".png" else encode_jpeg(image, quality=95)
    path.write_bytes(bytes(encoded.numpy()))


def make_mask_dataset(root: Path, people: list[tuple[str, str, str, int]] | None = None,
                      with_csv: bool = True, with_litter: bool = True) -> Path:
    """Write ``root/train/images/<id>_<gender>_<race>_<age>/{mask1..5,incorrect_mask,normal}.*``
    and ``root/train/train.csv``; the extension rotates over .jpg/.jpeg/.png. ``with_litter`` adds
    hidden files and folders (``._mask1.jpg``, ``.DS_Store``) and a stray text file to be ignored."""
    images = root / "train" / "images"
    images.mkdir(parents=True, exist_ok=True)
    people = default_people() if people is None else people
    for index, (person_id, gender, race, age) in enumerate(people):
        folder = images / f"{person_id}_{gender}_{race}_{age}"
        folder.mkdir(exist_ok=True)
        for k, stem in enumerate(STEMS):
            suffix = SUFFIXES[(index + k) % len(SUFFIXES)]
            colour = photo_colour(MASK_OF[stem], ("male", "female").index(gender), age)
            write_image(folder / f"{stem}{suffix}", colour)
        if with_litter and index == 0:
            (folder / "._mask1.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
            (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
            (folder / "notes.txt").write_text("not an image")
    if with_litter:
        (images / "._000001_male_Asian_18").mkdir(exist_ok=True)
        (images / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    if with_csv:
        with (root / "train" / "train.csv").open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["id", "gender", "race", "age", "path"])
            for person_id, gender, race, age in people:
                writer.writerow([person_id, gender, race, age, f"{person_id}_{gender}_{race}_{age}"])
    return root


def make_image_folder(root: Path, classes: dict[str, tuple[int, int]], size: int = 8,
                      tar_name: str | None = None) -> Path:
    """Write ``root/tree/{train,test}/<class>/NNNN.png`` with (train, test) images per class; each
    class has its own flat colour. With ``tar_name``, pack the tree as ``root/<tar_name>`` and
    return that path instead of the folder."""
    tree = root / "tree"
    for c, (name, (n_train, n_test)) in enumerate(classes.items()):
        for split, count in (("train", n_train), ("test", n_test)):
            if count == 0:
                continue
            folder = tree / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                suffix = ".png" if i % 2 else ".jpg"
                write_image(folder / f"{i:04d}{suffix}", (c * 20, 255 - c * 20, i % 256),
                            size, size)
    if tar_name is None:
        return tree
    archive = root / tar_name
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="data")
    return archive
