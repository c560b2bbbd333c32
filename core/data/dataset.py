"""Torch Dataset turning samples into normalised, resized, optionally augmented image/mask tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from core.data.images import load_pair
from core.data.samples import Sample
from core.data.transforms import augment_pair, check_augment_name, normalize, resize_pair
from core.errors import ConfigError


class SegmentationDataset(Dataset):
    """Item i: (float32 3xSxS image normalised with ImageNet statistics, float32 1xSxS mask of 0/1)."""

    def __init__(self, samples: Sequence[Sample], image_size: int, augment: str = "none"):
        check_augment_name(augment)
        if image_size < 1:
            raise ConfigError(f"image_size: must be a positive number of pixels, got {image_size!r}")
        self.samples = list(samples)
        self.image_size = image_size
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = load_pair(self.samples[index])
        image_uint8, mask_uint8 = resize_pair(image, mask, self.image_size)
        image_float, mask_uint8 = augment_pair(normalize(image_uint8), mask_uint8, self.augment)
        return image_float, mask_uint8.float()
