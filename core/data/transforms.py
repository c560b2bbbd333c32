"""Resize decoded image/mask pairs to the training size and normalise images (augmentation: augment.py)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from core.image_statistics import IMAGENET_MEAN, IMAGENET_STD


def resize_image(image: Image.Image, size: int) -> torch.Tensor:
    """RGB image as uint8 3 x size x size, bilinear: the one resize used for training and prediction."""
    # Pillow's bilinear filter widens its support when shrinking, so downscaled photos do not alias.
    resized = (image if image.mode == "RGB" else image.convert("RGB")).resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.ascontiguousarray(np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)))


def resize_pair(image: Image.Image, mask: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image as uint8 3 x size x size (bilinear) and 0/1 mask as uint8 1 x size x size (nearest)."""
    resized_mask = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).resize(
        (size, size), Image.Resampling.NEAREST
    )
    return resize_image(image, size), torch.from_numpy(np.array(resized_mask, dtype=np.uint8))[None]


def normalize(image: torch.Tensor) -> torch.Tensor:
    """uint8 image(s) (..., 3, H, W) as float32 scaled to 0..1 then standardised with the ImageNet statistics."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=image.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=image.device).view(3, 1, 1)
    return (image.float() / 255.0 - mean) / std
