"""Decompression bombs and data that cannot make a classification (issue 14, items 11 and 12).

Every file here is real and built by the test: a 389 KB PNG whose header declares 20000 × 20000
pixels (a complete zlib stream of 400 MB of zeros), a .tar.gz holding a 70 MiB image member of
zeros, a tar holding two dataset trees, a one-class tree. Each is refused with exit status 2 and
one line naming the file and the limit, before ``run`` writes anything to its ``--out`` folder.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from functools import lru_cache
from pathlib import Path

import pytest
from helpers.cli import refused
from helpers.datasets_fixtures import make_image_folder, make_mask_dataset, write_image
from helpers.suites import imagefolder_suite
from lossbench.cli import main
from lossbench.datasets.images import DEFAULT_MAX_PIXELS, header_pixels

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities")

IMAGE_SUITE = imagefolder_suite("mine")
RUN = ["--device", "cpu", "--threads", "1", "--no-progress"]
TWO = {"a": (3, 1), "b": (3, 1)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=1)
def bomb_png(side: int = 20000) -> bytes:
    """A valid 8-bit grey PNG of side × side zero pixels: 389 KB that decode to 400 MB. The zlib
    stream is one full-flushed block repeated (identical after each flush), so making it is quick;
    the Adler-32 of n zero bytes is (n mod 65521) << 16 | 1."""
    rows = 1000
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = block.compress(bytes((side + 1) * rows)) + block.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    total = (side + 1) * side
    stream = (b"\x78\xda" + segment * (side // rows) + end
              + struct.pack(">I", (total % 65521) << 16 | 1))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream)
            + _chunk(b"IEND", b""))


def image_run(tmp_path: Path, root: Path) -> list[str]:
    suite = tmp_path / "images.toml"
    suite.write_text(IMAGE_SUITE)
    return ["run", str(suite), "--root", str(root), "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache"), *RUN]


def show(root: Path, tmp_path: Path, *flags: str) -> list[str]:
    return ["datasets", "show", "imagefolder", "--root", str(root), "--cache-dir",
            str(tmp_path / "cache"), *flags]


def nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))
    assert not list((tmp_path / "cache").glob("*.pt"))


def test_the_bomb_png_is_a_real_png_that_declares_400_million_pixels():
    data = bomb_png()
    assert len(data) < 400_000 and header_pixels(data) == 400_000_000
    stream = zlib.decompressobj()
    assert stream.decompress(data[41:-16], 1 << 20) == bytes(1 << 20)  # zero rows, as declared


def test_header_pixels_reads_png_jpeg_gif_and_webp(tmp_path):
    for suffix in (".png", ".jpg"):
        write_image(tmp_path / f"x{suffix}", (10, 20, 30), height=23, width=37)
        assert header_pixels((tmp_path / f"x{suffix}").read_bytes()) == 23 * 37
    image = pytest.importorskip("PIL.Image")
    frames = [image.new("RGB", (37, 23), (k * 40, 0, 0)) for k in range(4)]
    for fmt, extra in (("GIF", {"save_all": True, "append_images": frames[1:]}),
                       ("WEBP", {}), ("WEBP", {"lossless": True})):
        stream = io.BytesIO()
        frames[0].save(stream, fmt, **extra)
        assert header_pixels(stream.getvalue()) == 23 * 37 * (4 if fmt == "GIF" else 1), fmt
    assert header_pixels(b"BM not a format torchvision reads") is None


def test_a_jpeg_frame_header_is_found_past_other_segments(tmp_path):
    write_image(tmp_path / "x.jpg", (10, 20, 30), height=23, width=37)
    data = (tmp_path / "x.jpg").read_bytes()
    app = b"\xff\xe1" + struct.pack(">H", 2 + 5000) + b"\xff" * 5000  # marker-like bytes inside
    data = data[:2] + app + data[2:]
    sof = data.index(b"\xff\xc0")
    patched = data[:sof + 5] + struct.pack(">HH", 20000, 20000) + data[sof + 9:]
    assert header_pixels(data) == 23 * 37 and header_pixels(patched) == 400_000_000


def test_a_png_bomb_in_a_folder_is_refused_before_decoding(tmp_path, capsys):
    tree = make_image_folder(tmp_path, TWO)
    bomb = tree / "train" / "b" / "0009.png"
    bomb.write_bytes(bomb_png())
    refused(image_run(tmp_path, tree), capsys, "dataset 'mine' cannot be built",
            f"image file {bomb} has 400,000,000 pixels, over the limit of 89,478,485")
    nothing_written(tmp_path)
    refused(show(tree, tmp_path, "--decode"), capsys, str(bomb), "400,000,000 pixels")


def test_the_pixel_limit_is_a_setting(tmp_path, capsys, monkeypatch):
    tree = make_image_folder(tmp_path, TWO, size=10)  # 100 pixels each
    monkeypatch.setenv("LOSSBENCH_MAX_PIXELS", "99")
    refused(show(tree, tmp_path, "--decode"), capsys, "has 100 pixels, over the limit of 99",
            "LOSSBENCH_MAX_PIXELS")
    monkeypatch.setenv("LOSSBENCH_MAX_PIXELS", "many")
    refused(show(tree, tmp_path, "--decode"), capsys, "LOSSBENCH_MAX_PIXELS must be a whole "
            "number of pixels >= 1; got 'many'")
    monkeypatch.setenv("LOSSBENCH_MAX_PIXELS", "100")
    assert main(show(tree, tmp_path, "--decode")) == 0
    assert DEFAULT_MAX_PIXELS == 89_478_485  # PIL's Image.MAX_IMAGE_PIXELS


def test_a_png_bomb_among_the_mask_photos_is_refused(tmp_path, capsys):
    root = make_mask_dataset(tmp_path / "mask", with_litter=False)
    photo = min((root / "train" / "images").glob("*/normal.*"))
    photo.write_bytes(bomb_png())
    refused(["datasets", "show", "mask", "--root", str(root), "--decode", "--cache-dir",
             str(tmp_path / "cache")], capsys, f"image file {photo} has 400,000,000 pixels")


class Zeros(io.RawIOBase):
    """A file object of ``size`` zero bytes, read in chunks (nothing of that size is held)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def add_member(archive: tarfile.TarFile, name: str, size: int, data: bytes | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    archive.addfile(info, io.BytesIO(data) if data is not None else io.BufferedReader(Zeros(size)))


def test_a_huge_member_of_a_small_tar_gz_is_refused_from_its_header(tmp_path, capsys):
    tree = make_image_folder(tmp_path, TWO)
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(tree, arcname="data")
        add_member(tar, "data/train/a/huge.png", 70 * 2**20)
    assert archive.stat().st_size < 2**20
    expected = (f"archive {archive}: member data/train/a/huge.png is 70.0 MiB uncompressed, "
                f"over the limit of 64 MiB per image; set LOSSBENCH_MAX_MEMBER_MB")
    refused(image_run(tmp_path, archive), capsys, "dataset 'mine' cannot be built", expected)
    nothing_written(tmp_path)
    refused(show(archive, tmp_path), capsys, expected)  # without --decode too


def test_the_archive_limits_are_settings(tmp_path, capsys, monkeypatch):
    tree = make_image_folder(tmp_path, TWO)
    archive = tmp_path / "data.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tree, arcname="data")
        add_member(tar, "data/README.txt", 2 * 2**20)  # not an image: counts in the total only
    assert main(show(archive, tmp_path)) == 0
    monkeypatch.setenv("LOSSBENCH_MAX_ARCHIVE_MB", "1")
    refused(show(archive, tmp_path), capsys, f"archive {archive}: its members add up to over 1 "
            "MiB uncompressed at member data/README.txt", "LOSSBENCH_MAX_ARCHIVE_MB")
    monkeypatch.setenv("LOSSBENCH_MAX_ARCHIVE_MB", "-5")
    refused(show(archive, tmp_path), capsys, "LOSSBENCH_MAX_ARCHIVE_MB must be a whole number")


def two_trees(tmp_path: Path) -> Path:
    """``both/a/train/…`` and ``both/b/train/…``: two dataset roots side by side."""
    (tmp_path / "both").mkdir()
    for name in ("a", "b"):
        make_image_folder(tmp_path / f"src-{name}", TWO).rename(tmp_path / "both" / name)
    return tmp_path / "both"


def test_a_tar_holding_two_trees_is_refused_like_the_same_folders(tmp_path, capsys):
    folder = two_trees(tmp_path)
    archive = tmp_path / "both.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    expected = "holds 2 trees with train/<class>/ folders (a/, b/); an imagefolder root must "
    from_folder = refused(show(folder, tmp_path), capsys, f"{folder} {expected}")
    from_tar = refused(show(archive, tmp_path), capsys, f"{archive} {expected}")
    assert from_tar.replace(str(archive), "ROOT") == from_folder.replace(str(folder), "ROOT")
    refused(image_run(tmp_path, archive), capsys, "dataset 'mine' cannot be built", expected)
    nothing_written(tmp_path)


def test_a_tar_with_two_trees_deeper_down_is_refused(tmp_path, capsys):
    tree = make_image_folder(tmp_path, TWO)
    archive = tmp_path / "deep.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tree, arcname="x/first")
        tar.add(tree, arcname="x/second")
    refused(show(archive, tmp_path), capsys, "holds 2 trees", "x/first/, x/second/")


@pytest.mark.parametrize("packed", [False, True])
def test_a_one_class_tree_is_refused_before_anything_is_written(tmp_path, capsys, packed):
    root = make_image_folder(tmp_path, {"cat": (4, 2)}, tar_name="one.tar.gz" if packed else None)
    expected = f"imagefolder {root} has only 1 class ('cat'): a classification needs at least 2"
    refused(show(root, tmp_path), capsys, expected)
    refused(image_run(tmp_path, root), capsys, f"dataset 'mine' cannot be built: {expected}")
    nothing_written(tmp_path)
