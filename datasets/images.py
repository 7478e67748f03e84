"""Decoding image files into one uint8 tensor (N, 3, H, W) with ``torchvision.io``.

A file that cannot be decoded raises a ``UserError`` naming it. Images are converted to RGB; with a
``size`` they are resized (antialiased) to size × size, otherwise they must all share one shape.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from lossbench.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
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


def decode_many(items: Sequence[tuple[str, bytes | Path]], size: int | None = None) -> torch.Tensor:
    """Decode ``(name, encoded bytes or file path)`` pairs into one (N, 3, H, W) uint8 tensor.

    Files given by path are read one at a time, and each image is copied into one tensor allocated
    up front, so memory stays near the size of the result (a list of images to stack fragmented the
    heap to 4.5 GB on the 18,900 mask photos). Threads were measured and did not help.
    """
    if not items:
        raise UserError("no images to decode")
    result: torch.Tensor | None = None
    for index, (name, encoded) in enumerate(items):
        if isinstance(encoded, Path):
            try:
                encoded = encoded.read_bytes()
            except OSError as error:
                raise UserError(f"cannot read image file {name}: {error.strerror}") from error
        image = decode_one(encoded, name, size)
        if result is None:
            result = torch.empty((len(items), *image.shape), dtype=torch.uint8)
        elif image.shape != result.shape[1:]:
            raise UserError(f"image {name} is {tuple(image.shape[1:])} but {items[0][0]} is "
                            f"{tuple(result.shape[2:])}; set the source option 'size' to resize "
                            f"them all")
        result[index] = image
    return result
