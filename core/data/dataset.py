"""Torch Dataset turning samples into normalised, resized, optionally augmented image/mask tensors."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch.utils.data import Dataset

from core.data.augment import augment_pair, check_augment_name
from core.data.cache import DecodedCache
from core.data.images import load_pair
from core.data.labels import BINARY, Labels
from core.data.samples import Sample
from core.data.transforms import normalize, resize_pair
from core.errors import ConfigError


class SegmentationDataset(Dataset):
    """Item i: (float32 3xSxS image normalised with ImageNet statistics, mask): the mask is float32 1xSxS of 0/1
    for a binary task, int64 SxS of class ids for a multiclass one (what the losses and metrics take).

    With a `cache` (built for the same samples and size), each sample is decoded once and augmented afresh.
    """

    def __init__(
        self, samples: Sequence[Sample], image_size: int, augment: str = "none", cache: DecodedCache | None = None,
        labels: Labels = BINARY,
    ):
        check_augment_name(augment)
        if image_size < 1:
            raise ConfigError(f"image_size: must be a positive number of pixels, got {image_size!r}")
        if cache is not None and (len(cache) != len(samples) or cache.image_size != image_size):
            raise ValueError(
                f"cache holds {len(cache)} samples at {cache.image_size} px, "
                f"dataset has {len(samples)} at {image_size} px"
            )
        self.skipped: list[str] = []  # messages of samples left out as unreadable (skip_bad)
        self.samples = list(samples)
        self.image_size = image_size
        self.augment = augment
        self.cache = cache
        self.labels = labels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache is None:
            image_uint8, mask_uint8 = self.decode(index)
        else:
            image_uint8, mask_uint8 = self.cache.get(index, partial(self.decode, index))
        image_uint8, mask_uint8 = augment_pair(image_uint8, mask_uint8, self.augment)
        if self.labels.multiclass:
            return normalize(image_uint8), mask_uint8[0].long()
        return normalize(image_uint8), mask_uint8.float()

    def decode(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample `index` decoded and resized, before augmentation: uint8 3xSxS image, uint8 1xSxS mask."""
        image, mask = load_pair(self.samples[index], self.labels)
        return resize_pair(image, mask, self.image_size)

    def decoded_mask(self, index: int) -> torch.Tensor:
        """Sample `index`'s resized, unaugmented uint8 1xSxS mask (through the cache when there is one)."""
        if self.cache is None:
            return self.decode(index)[1]
        return self.cache.get(index, partial(self.decode, index))[1]

    def class_pixel_counts(self) -> list[int]:
        """Pixels of each class over every sample (resized, unaugmented; ignored pixels not counted)."""
        counts = torch.zeros(self.labels.classes, dtype=torch.int64)
        for index in range(len(self)):
            mask = self.decoded_mask(index).flatten().long()
            counts += torch.bincount(mask[mask < self.labels.classes], minlength=self.labels.classes)
        return counts.tolist()

    def fill_cache(self) -> None:
        """Decode every sample into the cache now: a bad file fails the run at its start, not in some
        later epoch whose shuffle happens to reach it; later reads are cache hits."""
        if self.cache is not None:
            for index in range(len(self)):
                self.cache.get(index, partial(self.decode, index))
