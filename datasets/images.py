"""Decoding image files into one uint8 tensor (N, 3, H, W) with ``torchvision.io``.

A file that cannot be decoded raises a ``UserError`` naming it. Images are converted to RGB; with a
``size`` they are resized (antialiased) to size × size, otherwise they must all share one shape.

Decompression bombs: torchvision's decoders have no pixel limit (a 389 KB PNG declaring
20000 × 20000 pixels decodes to 1.2 GB), so every image's width and height are read from its header
(PNG ``IHDR``, JPEG ``SOF``, GIF screen and frames, WebP ``VP8``/``VP8L``/``VP8X``: the formats
``decode_image`` accepts, whatever the file's name) before it is decoded, and an image of more than
``$LOSSBENCH_MAX_PIXELS`` pixels (default 89,478,485, PIL's ``Image.MAX_IMAGE_PIXELS``; frames
times screen for a GIF) is refused with a ``UserError`` naming the file, its pixels and the limit.
A header that cannot be read is refused as corrupt; content of any other format is left to the
decoder, which refuses it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from lossbench.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_PIXELS_ENV = "LOSSBENCH_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 89_478_485  # PIL's Image.MAX_IMAGE_PIXELS: 1024 * 1024 * 1024 // 4 // 3
# JPEG start-of-frame markers (C4 is DHT, C8 JPG, CC DAC: not frames)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# torchvision 0.29 warns on every call that its decoders will move to TorchCodec; they still work,
# and one warning per image would bury everything else. Only that message is silenced.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of "
                        "TorchVision are deprecated", category=DeprecationWarning)


def is_hidden(name: str) -> bool:
    """Hidden files and folders (``.DS_Store``, macOS ``._*`` resource forks) are never data."""
    return name.startswith(".")


def is_image_name(name: str) -> bool:
    """True for a visible file named ``*.jpg``, ``*.jpeg`` or ``*.png`` (any letter case)."""
    return not is_hidden(name) and name.lower().endswith(IMAGE_SUFFIXES)


def max_pixels() -> int:
    """The pixel limit: ``$LOSSBENCH_MAX_PIXELS`` when set, else 89,478,485."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"{MAX_PIXELS_ENV} must be a whole number of pixels >= 1; "
                        f"got {text[:80]!r}")
    return value


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first start-of-frame segment; fill bytes and stray bytes between
    segments are skipped as libjpeg does."""
    at = 2
    while True:
        at = data.find(b"\xff", at)
        while 0 <= at < len(data) - 1 and data[at + 1] == 0xFF:
            at += 1
        if at < 0 or at + 4 > len(data):
            raise ValueError("no JPEG frame header")
        marker, at = data[at + 1], at + 2
        if marker == 0x01 or 0xD0 <= marker <= 0xD8 or marker == 0x00:
            continue  # standalone markers (and stuffed zeros) have no length
        if marker in (0xD9, 0xDA):
            raise ValueError("no JPEG frame header before the image data")
        length = int.from_bytes(data[at:at + 2], "big")
        if marker in _SOF:
            if length < 7 or at + 7 > len(data):
                raise ValueError("truncated JPEG frame header")
            return int.from_bytes(data[at + 5:at + 7], "big"), int.from_bytes(data[at + 3:at + 5],
                                                                               "big")
        at += length


def _gif_pixels(data: bytes) -> int:
    """Screen pixels times frames (torchvision decodes every frame at the screen's size)."""
    if len(data) < 13:
        raise ValueError("truncated GIF header")
    screen = int.from_bytes(data[6:8], "little") * int.from_bytes(data[8:10], "little")
    at, frames, largest = 13 + ((3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 0), 0, screen
    while at < len(data) and data[at] != 0x3B:
        if data[at] == 0x2C:  # image descriptor: position, size, flags, local colours, LZW size
            if at + 10 > len(data):
                break
            frames += 1
            largest = max(largest, int.from_bytes(data[at + 5:at + 7], "little")
                          * int.from_bytes(data[at + 7:at + 9], "little"))
            flags = data[at + 9]
            at += 11 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
        elif data[at] == 0x21:  # extension: label, then sub-blocks
            at += 2
        else:
            break  # not a block: the decoder will say what is wrong
        while at < len(data) and data[at]:  # data sub-blocks up to the zero-length one
            at += data[at] + 1
        at += 1
    if not frames:
        raise ValueError("no GIF image block")
    return largest * frames


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk, body = data[12:16], data[20:30]
    if chunk == b"VP8X" and len(body) >= 10:
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        return (int.from_bytes(body[6:8], "little") & 0x3FFF,
                int.from_bytes(body[8:10], "little") & 0x3FFF)
    raise ValueError("no WebP frame header")


def header_pixels(data: bytes) -> int | None:
    """Pixels an image decodes to, read from its header without decoding; None for content that
    is none of the formats ``torchvision.io.decode_image`` detects (JPEG, PNG, GIF, WebP). A
    header that cannot be read raises ``ValueError``."""
    if data[:3] == b"\xff\xd8\xff":
        width, height = _jpeg_size(data)
        return width * height
    if data[:4] == b"\x89PNG":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("no PNG IHDR header")
        return int.from_bytes(data[16:20], "big") * int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _gif_pixels(data)
    if data[:4] == b"RIFF" and data[8:15] == b"WEBPVP8":
        width, height = _webp_size(data)
        return width * height
    return None


def check_pixels(encoded: bytes, name: str, limit: int | None = None) -> None:
    """Refuse ``encoded`` when its header is unreadable or declares more than ``limit`` pixels."""
    limit = max_pixels() if limit is None else limit
    try:
        pixels = header_pixels(encoded)
    except ValueError as error:
        raise UserError(f"cannot decode image file {name}: it is corrupt or not an image "
                        f"({error})") from None
    if pixels is not None and pixels > limit:
        raise UserError(f"image file {name} has {pixels:,} pixels, over the limit of {limit:,} "
                        f"(a decompression bomb?); set {MAX_PIXELS_ENV} to allow more")


def decode_one(encoded: bytes, name: str, size: int | None, limit: int | None = None
               ) -> torch.Tensor:
    """Decode ``encoded`` to a (3, H, W) uint8 RGB tensor, resized to size × size when given; the
    pixel limit (``limit``, else ``max_pixels()``) is checked from the header first."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2.functional import resize

    if not encoded:
        raise UserError(f"image file {name} is empty")
    check_pixels(encoded, name, limit)
    data = torch.frombuffer(bytearray(encoded), dtype=torch.uint8)
    try:
        image = decode_image(data, mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError) as error:
        raise UserError(f"cannot decode image file {name}: it is corrupt or not an image "
                        f"({str(error).splitlines()[0]})") from error
    if size is not None and tuple(image.shape[1:]) != (size, size):
        image = resize(image, [size, size], antialias=True)
    return image


def _allocate(count: int, shape: tuple[int, ...], name: str) -> torch.Tensor:
    """The (count, *shape) result; too large for memory is one line suggesting ``size``."""
    try:
        return torch.empty((count, *shape), dtype=torch.uint8)
    except RuntimeError as error:
        gigabytes = count * math.prod(shape) / 2**30
        raise UserError(f"{count} images of {tuple(shape)} like {name} need {gigabytes:.1f} GiB; "
                        f"set the source option 'size' to resize them") from error


def decode_many(items: Sequence[tuple[str, bytes | Path]], size: int | None = None) -> torch.Tensor:
    """Decode ``(name, encoded bytes or file path)`` pairs into one (N, 3, H, W) uint8 tensor.

    Files given by path are read one at a time, and each image is copied into one tensor allocated
    up front, so memory stays near the size of the result (a list of images to stack fragmented the
    heap to 4.5 GB on the 18,900 mask photos). Threads were measured and did not help.
    """
    if not items:
        raise UserError("no images to decode")
    limit = max_pixels()
    result: torch.Tensor | None = None
    for index, (name, encoded) in enumerate(items):
        if isinstance(encoded, Path):
            try:
                encoded = encoded.read_bytes()
            except OSError as error:
                raise UserError(f"cannot read image file {name}: {error.strerror}") from error
        image = decode_one(encoded, name, size, limit)
        if result is None:
            result = _allocate(len(items), tuple(image.shape), name)
        elif image.shape != result.shape[1:]:
            raise UserError(f"image {name} is {tuple(image.shape[1:])} but {items[0][0]} is "
                            f"{tuple(result.shape[2:])}; set the source option 'size' to resize "
                            f"them all")
        result[index] = image
    return result
