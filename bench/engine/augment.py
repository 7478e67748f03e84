"""Batched image augmentation on the device: random crop of the zero-padded image and horizontal flip.

The CIFAR recipe (He et al. 2016; Cao et al. 2019): pad 4 pixels with zeros, take a random 32×32
crop, flip half of the images. Here it runs on a whole batch (or a whole epoch) of uint8 or float
tensors on their device, with no per-image Python: the crop is done as at most 2·(2·pad+1) masked
slice copies, one per row shift and one per column shift (the approach of airbench's
``batch_crop``), which is several times faster than a 4-D gather on the CPU and needs no index
tensors the size of the batch on the GPU. Zero padding of uint8 pixels is the reference code's
black border (torchvision pads the PIL image before normalising).
"""

from __future__ import annotations

import torch

__all__ = ["flip_crop", "random_crop", "random_flip"]


def random_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``images`` (N, C, H, W) mirrored left-right with probability 1/2."""
    flip = torch.rand(len(images), device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def random_crop(images: torch.Tensor, pad: int = 4,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """A random H×W window of every image zero-padded by ``pad`` pixels on each side.

    Shifts (dy, dx) are drawn uniformly from 0 … 2·pad for each image independently.
    """
    if images.ndim != 4:
        raise ValueError(f"random_crop expects images of shape (N, C, H, W), got {tuple(images.shape)}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if pad == 0 or len(images) == 0:
        return images
    n, c, h, w = images.shape
    span = 2 * pad + 1
    shifts = torch.randint(0, span, (2, n), device=images.device, generator=generator)
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    rows = torch.empty((n, c, h, w + 2 * pad), dtype=images.dtype, device=images.device)
    for dy in range(span):
        chosen = shifts[0] == dy
        rows[chosen] = padded[chosen, :, dy:dy + h, :]
    out = torch.empty_like(images)
    for dx in range(span):
        chosen = shifts[1] == dx
        out[chosen] = rows[chosen, :, :, dx:dx + w]
    return out


def flip_crop(images: torch.Tensor, pad: int = 4,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop of the ``pad``-padded image, then a random horizontal flip (the CIFAR recipe)."""
    return random_flip(random_crop(images, pad, generator), generator)
