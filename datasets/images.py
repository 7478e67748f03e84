"""Decoding image files into one uint8 tensor (N, 3, H, W) with ``torchvision.io``.

A file that cannot be decoded raises a ``UserError`` naming it. Images are converted to RGB; with a
``size`` they are resized (antialiased) to size × size, otherwise they must all share one shape.
Large images are decoded on a few threads (torchvision's decoders release the GIL); small ones are
cheaper to decode in one loop.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from lossbench.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_THREADED_ABOVE_BYTES = 20_000  # mean encoded size above which threads pay off
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


def decode_one(encoded: bytes, name: str, size: int | None) -> torch.Tensor:
    """Decode ``encoded`` to a (3, H, W) uint8 RGB tensor, resized to size × size when given."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2.functional import resize

    if not encoded:
        raise UserError(f"image file {name} is empty")
    data = torch.frombuffer(bytearray(encoded), dtype=torch.uint8)
    try:
        image = decode_image(data, mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError) as error:
        raise UserError(f"cannot decode image file {name}: it is corrupt or not an image "
                        f"({str(error).splitlines()[0]})") from error
    if size is not None and tuple(image.shape[1:]) != (size, size):
        image = resize(image, [size, size], antialias=True)
    return image


def _decode_chunk(chunk: Sequence[tuple[str, bytes]], size: int | None) -> list[torch.Tensor]:
    return [decode_one(encoded, name, size) for name, encoded in chunk]


def decode_many(items: Sequence[tuple[str, bytes]], size: int | None = None,
                threads: int | None = None) -> torch.Tensor:
    """Decode ``(name, encoded bytes)`` pairs into one (N, 3, H, W) uint8 tensor, in order."""
    if not items:
        raise UserError("no images to decode")
    mean_bytes = sum(len(encoded) for _, encoded in items) / len(items)
    workers = threads or (os.cpu_count() or 1)
    if workers > 1 and mean_bytes > _THREADED_ABOVE_BYTES and len(items) > workers:
        step = -(-len(items) // (workers * 4))
        chunks = [items[i:i + step] for i in range(0, len(items), step)]
        with ThreadPoolExecutor(workers) as pool:
            images = [image for part in pool.map(_decode_chunk, chunks, [size] * len(chunks))
                      for image in part]
    else:
        images = _decode_chunk(items, size)
    first = tuple(images[0].shape)
    for (name, _), image in zip(items, images):
        if tuple(image.shape) != first:
            raise UserError(f"image {name} is {tuple(image.shape[1:])} but {items[0][0]} is "
                            f"{first[1:]}; set the source option 'size' to resize them all")
    return torch.stack(images)
