"""Decoded-image cache: each sample's resized uint8 image and mask, decoded on first use and reused by later epochs.

A memory cache sits in shared memory, so DataLoader workers fill one cache that the main process and later
epochs see; a disk cache is a memory-mapped file named by a hash of the dataset's files, so it outlives the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from core.data.cache_files import cache_file_path, create_cache_file, map_cache_file
from core.data.cache_modes import CACHE_NAMES
from core.data.samples import Sample
from core.errors import ConfigError

CACHE_MODES = CACHE_NAMES  # names: core/data/cache_modes.py
CHANNEL_BYTES = 4  # per pixel: 3 for the RGB image, 1 for the mask
MEMORY_SHARE = 4  # auto keeps a cache in memory while it is under a quarter of the machine's RAM
SHARED_MEMORY_DIR = "/dev/shm"  # Linux shared memory; containers often give it only 64 MB

DecodedPair = tuple[torch.Tensor, torch.Tensor]


def cache_nbytes(count: int, image_size: int) -> int:
    """Bytes of pixels a cache of `count` samples at `image_size` holds (uint8 RGB image plus uint8 mask)."""
    return count * CHANNEL_BYTES * image_size * image_size


class DecodedCache:
    """uint8 images (N,3,S,S) and masks (N,1,S,S) of one sample list at one size, each filled on first access.

    Build one with `build_cache`; pickling a disk cache (as spawned DataLoader workers do) reopens its file.
    """

    def __init__(self, count: int, image_size: int, mode: str, path: Path | None = None):
        self.count = count
        self.image_size = image_size
        self.mode = mode  # "memory" or "disk"
        self.path = path  # the disk cache's file, None in memory
        if mode == "disk":
            self._open_file()
        else:
            self._filled, self._images, self._masks = _shared_tensors(count, image_size)

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return cache_nbytes(self.count, self.image_size)

    def filled_count(self) -> int:
        """How many samples are decoded and stored so far, by any process."""
        return int(self._filled.sum())

    def get(self, index: int, load: Callable[[], DecodedPair]) -> DecodedPair:
        """Sample `index` as (uint8 3xSxS image, uint8 1xSxS mask), calling `load()` only when not yet stored.

        `load` returns what `resize_pair` does; an error it raises propagates and leaves the entry unfilled.
        The tensors returned are copies, so augmenting them in place cannot change the cache.
        """
        if not self._filled[index]:
            image, mask = load()
            self._images[index].copy_(image)
            self._masks[index].copy_(mask)
            # Set last: a process killed mid-copy leaves the entry unfilled, and it is decoded again.
            self._filled[index] = 1
        return self._images[index].clone(), self._masks[index].clone()

    def _open_file(self) -> None:
        self._filled, self._images, self._masks = map_cache_file(self.path, self.count, self.image_size)

    def __getstate__(self) -> dict:
        if self.mode != "disk":
            return self.__dict__  # torch shares these tensors with worker processes instead of copying them
        # A pickled memory map would become a private copy; the file's path is enough to map it again.
        return {key: value for key, value in self.__dict__.items() if not key.startswith("_")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.mode == "disk":
            self._open_file()


def build_cache(
    samples: Sequence[Sample], image_size: int, mode: str, cache_dir: str | Path, labels_key: str = ""
) -> DecodedCache | None:
    """A decoded-image cache for `samples` at `image_size`, or None for mode "none" (or no samples).

    mode "auto" keeps it in memory while it is small next to the machine's RAM, else on disk in `cache_dir`.
    """
    if mode not in CACHE_MODES:
        raise ConfigError(f"cache: {mode!r} is not one of {', '.join(CACHE_MODES)}")
    if mode == "none" or not samples:
        return None
    if mode == "auto":
        mode = "memory" if fits_in_memory(cache_nbytes(len(samples), image_size)) else "disk"
    if mode == "memory":
        return DecodedCache(len(samples), image_size, "memory")
    path = cache_file_path(samples, image_size, Path(cache_dir), labels_key)
    create_cache_file(path, len(samples), image_size)
    return DecodedCache(len(samples), image_size, "disk", path)


def fits_in_memory(nbytes: int) -> bool:
    """Whether a cache of `nbytes` is under a quarter of RAM and under half the free shared memory.

    The other half of shared memory is left for the batches DataLoader workers send; a limit that cannot be
    read does not count.
    """
    physical = physical_memory_bytes()
    if physical is not None and nbytes >= physical // MEMORY_SHARE:
        return False
    shared = shared_memory_free_bytes()
    return shared is None or nbytes < shared // 2


def physical_memory_bytes() -> int | None:
    """The machine's RAM in bytes, or None where the OS does not say."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def shared_memory_free_bytes() -> int | None:
    """Free bytes in /dev/shm, which holds every memory cache, or None where there is no such folder."""
    try:
        stats = os.statvfs(SHARED_MEMORY_DIR)
    except (AttributeError, OSError):
        return None
    return stats.f_bavail * stats.f_frsize


def _shared_tensors(count: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Filled flags (all 0), images and masks in shared memory, so forked and spawned workers write the same pages."""
    try:
        filled = torch.zeros(count, dtype=torch.uint8).share_memory_()
        # Unfilled pixels are never read, so they need no zeroing.
        images = torch.empty(count, 3, image_size, image_size, dtype=torch.uint8).share_memory_()
        masks = torch.empty(count, 1, image_size, image_size, dtype=torch.uint8).share_memory_()
    except RuntimeError as error:  # torch reserves shared memory up front and raises when it is short
        size_mb = cache_nbytes(count, image_size) / 2**20
        reason = " ".join(str(error).split())
        raise ConfigError(
            f"cache: cannot hold {size_mb:.0f} MB of decoded images in shared memory ({reason}); use the disk cache"
        ) from error
    return filled, images, masks
