"""``imagefolder``: any ``train/<class>/*`` (+ optional ``test/<class>/*``) tree, or a .tar.gz of one.

The tree may sit one level down (``<path>/<name>/train/…``, as in ``cifar10-jpg.tar.gz``; in an
archive, any number of levels down); a folder or archive holding two such trees is an error, not
a merge. Class names are the ``train/`` sub-folders, sorted; at least two are needed. Hidden entries
(``.*``, ``._*``) are ignored and other non-image files skipped. ``test/`` becomes the source's own
test split; without it, ``prepare`` sets a test split apart from the pool. Images are decoded once
and cached as uint8 under a key of the archive's (or every file's) path, size and modification
time, so a warm load reads one file.

Limits against decompression bombs, read from the tar headers before anything is extracted: an
image member over ``$LOSSBENCH_MAX_MEMBER_MB`` MiB (default 64) or an archive whose members add up
to more than ``$LOSSBENCH_MAX_ARCHIVE_MB`` MiB uncompressed (default 4096) is refused, naming the
archive, the member and the limit. Every image's pixels are checked from its header before decoding
(``$LOSSBENCH_MAX_PIXELS``, see ``lossbench.datasets.images``).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from lossbench.datasets.cache import cache_key, load_cached, save_cached
from lossbench.datasets.images import decode_many, is_hidden, is_image_name
from lossbench.datasets.sources import Option, Source, SourceData, register_source
from lossbench.errors import UserError

SPLITS = ("train", "test")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
MIB = 2**20
MEMBER_ENV, MEMBER_MIB = "LOSSBENCH_MAX_MEMBER_MB", 64  # per image member, uncompressed
ARCHIVE_ENV, ARCHIVE_MIB = "LOSSBENCH_MAX_ARCHIVE_MB", 4096  # all members together

# (split, class, file name) -> encoded bytes; class folders seen (even empty ones) per split
Files = dict[tuple[str, str, str], bytes]


def _place(parts: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(split, class, file) when ``parts`` ends in ``<train|test>/<class>/<file>``, else None."""
    if len(parts) < 3 or parts[-3] not in SPLITS or any(is_hidden(p) for p in parts):
        return None
    return parts[-3], parts[-2], parts[-1]


def _env_mib(name: str, default: int) -> int:
    """A limit in MiB from the environment variable ``name`` (``default`` when unset)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise UserError(f"{name} must be a whole number of MiB >= 1; got {text[:80]!r}")
    return int(text)


def _shown(name: str) -> str:
    """A member name fit for a one-line message (escaped when not printable, cut when long)."""
    name = name if name.isprintable() else repr(name)
    return name if len(name) <= 200 else name[:200] + "…"


def archive_limits() -> tuple[int, int]:
    """(bytes per image member, bytes of all members): ``$LOSSBENCH_MAX_MEMBER_MB`` (default 64)
    and ``$LOSSBENCH_MAX_ARCHIVE_MB`` (default 4096), in MiB."""
    return _env_mib(MEMBER_ENV, MEMBER_MIB) * MIB, _env_mib(ARCHIVE_ENV, ARCHIVE_MIB) * MIB


def _check_member(path: Path, member: tarfile.TarInfo, total: int, image: bool,
                  limits: tuple[int, int]) -> None:
    """Refuse an image member over the per-member limit, or members adding up past the total."""
    if image and member.size > limits[0]:
        raise UserError(f"archive {path}: member {_shown(member.name)} is "
                        f"{member.size / MIB:,.1f} MiB uncompressed, over the limit of "
                        f"{limits[0] // MIB:,} MiB per image; set {MEMBER_ENV} to allow more")
    if total > limits[1]:
        raise UserError(f"archive {path}: its members add up to over {limits[1] // MIB:,} MiB "
                        f"uncompressed at member {_shown(member.name)}, over the limit for one "
                        f"archive; set {ARCHIVE_ENV} to allow more")


def several_trees(where: Path, roots: list[str]) -> UserError:
    """The one error for a folder or archive that holds more than one dataset tree."""
    shown = ", ".join(roots[:5]) + (f" and {len(roots) - 5} more" if len(roots) > 5 else "")
    return UserError(f"{where} holds {len(roots)} trees with train/<class>/ folders ({shown}); "
                     f"an imagefolder root must hold exactly one (one folder or archive per "
                     f"dataset)")


def _archive_root(path: Path, roots: set[tuple[str, ...]]) -> tuple[str, ...]:
    """The one prefix (folders above ``train/``) of the archive's tree, as ``_tree_root`` picks
    a folder's: the top level when it has ``train/``, else the only tree; two are an error."""
    if () in roots or not roots:
        return ()
    if len(roots) == 1:
        return next(iter(roots))
    raise several_trees(path, sorted("/".join(root) + "/" for root in roots))


def read_archive(path: Path, read_bytes: bool = True) -> tuple[Files, dict[str, set[str]], int]:
    """Image bytes of a tar archive (empty when not ``read_bytes``), the class folders of each
    split, and the skipped-file count. Sizes are checked from the headers before any read."""
    files: dict[tuple[tuple[str, ...], str, str, str], bytes] = {}
    folders: set[tuple[tuple[str, ...], str, str]] = set()
    skipped: dict[tuple[str, ...], int] = {}
    total, limits = 0, archive_limits()
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                parts = PurePosixPath(member.name).parts
                if member.isdir():
                    if len(parts) >= 2 and parts[-2] in SPLITS and not is_hidden(parts[-1]):
                        folders.add((parts[:-2], parts[-2], parts[-1]))
                    continue
                place = _place(parts) if member.isfile() else None
                image = place is not None and is_image_name(place[2])
                total += member.size if member.isfile() else 0
                _check_member(path, member, total, image, limits)
                if not image:
                    if place is not None:
                        skipped[parts[:-3]] = skipped.get(parts[:-3], 0) + 1
                    continue
                folders.add((parts[:-3], place[0], place[1]))
                files[(parts[:-3], *place)] = (archive.extractfile(member).read() if read_bytes
                                               else b"")
    except (tarfile.TarError, EOFError, OSError) as error:
        reason = " ".join(str(error).split())  # tarfile lists one line per method it tried
        raise UserError(f"cannot read archive {path}: {reason}") from error
    root = _archive_root(path, {prefix for prefix, split, _ in folders if split == "train"})
    by_split: dict[str, set[str]] = {split: set() for split in SPLITS}
    for prefix, split, name in folders:
        if prefix == root:
            by_split[split].add(name)
    return ({key[1:]: data for key, data in files.items() if key[0] == root}, by_split,
            skipped.get(root, 0))


def _tree_root(path: Path) -> Path:
    if (path / "train").is_dir():
        return path
    inner = [p for p in sorted(path.iterdir()) if p.is_dir() and (p / "train").is_dir()]
    if len(inner) == 1:
        return inner[0]
    if inner:
        raise several_trees(path, [p.name + "/" for p in inner])
    raise UserError(f"no train/<class>/ folders under {path} (nor one level down)")


def list_folder(path: Path) -> tuple[list[tuple[tuple[str, str, str], Path]], dict[str, set[str]], int]:
    """Image files of a folder tree (place, path), the class folders per split, skipped count."""
    root = _tree_root(path)
    found, folders, skipped = [], {split: set() for split in SPLITS}, 0
    for split in SPLITS:
        if not (root / split).is_dir():
            continue
        for class_dir in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            if is_hidden(class_dir.name):
                continue
            folders[split].add(class_dir.name)
            for entry in sorted(class_dir.iterdir()):
                if is_image_name(entry.name) and entry.is_file():
                    found.append(((split, class_dir.name, entry.name), entry))
                elif not is_hidden(entry.name):
                    skipped += 1
    return found, folders, skipped


def _class_names(places: list[tuple[str, str, str]], folders: dict[str, set[str]],
                 where: Path) -> list[str]:
    """Sorted train classes; an empty class, or a test class unknown to train, is an error."""
    names = sorted(folders["train"])
    if not names:
        raise UserError(f"no train/<class>/ folders with images in {where}")
    has_test = bool(folders["test"])
    for split in SPLITS if has_test else ("train",):
        counts = {name: 0 for name in folders[split]}
        for place in places:
            if place[0] == split:
                counts[place[1]] += 1
        for name, count in sorted(counts.items()):
            if count == 0:
                raise UserError(f"class {name!r} has no images in {split}/ of {where}")
        unknown = sorted(set(folders[split]) - set(names))
        missing = sorted(set(names) - set(folders[split]))
        if unknown or missing:
            raise UserError(f"classes of test/ and train/ differ in {where}: "
                            f"only in test: {unknown or 'none'}, only in train: {missing or 'none'}")
    check_class_count(names, where)
    return names


def check_class_count(names: list[str], where: Path) -> None:
    """At least two classes: one class passed ``datasets show`` and failed deep inside ``run``."""
    if len(names) < 2:
        raise UserError(f"imagefolder {where} has only {len(names)} class "
                        f"({', '.join(map(repr, names))}): a classification needs at least 2 "
                        f"train/<class>/ folders with images")


def _read_source(path: Path, size: int | None, decode: bool) -> dict[str, Any]:
    """Labels, test flags and class names of the tree; images too when ``decode``."""
    if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
        files, folders, skipped = read_archive(path, read_bytes=decode)
        places = sorted(files, key=lambda place: (SPLITS.index(place[0]), *place[1:]))
        items = [("/".join((str(path),) + place), files[place]) for place in places]
    elif path.is_dir():
        found, folders, skipped = list_folder(path)
        places = [place for place, _ in found]
        items = [(str(file), file) for _, file in found]
    else:
        raise UserError(f"imagefolder path {path} is neither a folder nor a "
                        f"{', '.join(ARCHIVE_SUFFIXES)} archive")
    names = _class_names(places, folders, path)
    x = decode_many(items, size=size) if decode else None
    index = {name: c for c, name in enumerate(names)}
    return {"x": x, "y": torch.tensor([index[p[1]] for p in places], dtype=torch.int64),
            "is_test": torch.tensor([p[0] == "test" for p in places]), "class_names": names,
            "skipped": skipped}


def _stamp(path: Path) -> Any:
    """What the cache key depends on: the archive's stat, or every file's stat in a tree."""
    if path.is_file():
        stat = path.stat()
        return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    stamps = []
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            stat = os.stat(os.path.join(folder, name))
            stamps.append((os.path.join(folder, name), stat.st_size, stat.st_mtime_ns))
    return [str(path.resolve()), stamps]


def load_imagefolder(options: dict[str, Any], cache_dir: Path, decode: bool = True) -> SourceData:
    """Decode (or reuse) the tree's images; ``test/`` becomes the source's own test split.

    With ``decode=False`` and no cache entry, only the names are read (``x`` is None).
    """
    path, size = options["root"], options["size"]
    if path is None:
        raise UserError("source 'imagefolder' needs the option root: a train/<class>/ tree or a "
                        ".tar.gz of one (command line: --root PATH)")
    if not path.exists():
        raise UserError(f"imagefolder path {path} does not exist")
    if size is not None and size < 1:
        raise UserError(f"option size of source 'imagefolder' must be >= 1; got {size}")
    # layout 2: archives holding two trees are refused (layout 1 merged them)
    key = cache_key("imagefolder", stamp=_stamp(path), size=size, layout=2)
    entry = load_cached(cache_dir, key)
    cached = entry is not None
    if not cached:
        entry = _read_source(path, size, decode)
        if decode:
            save_cached(cache_dir, key, entry)
    check_class_count(entry["class_names"], path)
    is_test = entry["is_test"].numpy().astype(bool)
    return SourceData(
        x=entry["x"], y=entry["y"].numpy().astype(np.int64), class_names=entry["class_names"],
        kind="images", source_test=is_test if is_test.any() else None,
        description={"root": str(path), "size": size, "from_cache": cached,
                     "images": len(is_test), "test_images": int(is_test.sum()),
                     "skipped_files": entry["skipped"]},
    )


register_source(Source(
    name="imagefolder",
    summary="any train/<class>/ (+ test/<class>/) image tree, or a .tar.gz of one",
    options=(
        Option("root", "path", None, "the tree's folder, or a .tar.gz archive of it"),
        Option("size", "optional_int", None, "resize every image to size x size (default: keep)"),
    ),
    load=load_imagefolder,
))
