"""The decoded-image cache modes by name: the registry every cache choice comes from (config, CLI, form), without
torch; core/data/cache.py implements them."""

from __future__ import annotations

CACHE_MODES: dict[str, str] = {
    "auto": "memory while the cache is under a quarter of RAM and half the free shared memory, else disk",
    "memory": "shared memory: DataLoader workers fill one cache that later epochs reuse",
    "disk": "a memory-mapped file named by a hash of the dataset's files, kept for later runs",
    "none": "decode every image every epoch",
}
CACHE_NAMES = tuple(CACHE_MODES)
