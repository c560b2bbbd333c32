"""Disk decoded-image cache files: named by a hash of the dataset's files, created atomically, memory-mapped.

One file per (sample list, image size): N filled flags, then N uint8 3xSxS images, then N uint8 1xSxS masks.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL
import torch

from core.data.samples import Sample
from core.errors import DataError

# Bump when the layout or the decode/resize changes, so no run reads pixels made the old way.
CACHE_FORMAT = 2  # 2: images turned by their EXIF orientation
KEY_HEX_CHARS = 16  # 64 bits of sha256: no accidental collision between a user's datasets


def cache_file_path(samples: Sequence[Sample], image_size: int, cache_dir: Path, labels_key: str = "") -> Path:
    """The file caching `samples` at `image_size`: a changed, added or removed file gives another name, and so
    does reading the masks another way (`labels_key`: Labels.cache_key, empty for binary)."""
    return cache_dir / f"decoded-{image_size}px-{len(samples)}-{dataset_key(samples, image_size, labels_key)}.u8"


def dataset_key(samples: Sequence[Sample], image_size: int, labels_key: str = "") -> str:
    """Hex sha256 prefix of the samples in order (paths, byte sizes, mtimes, mask kinds), the image size and how
    masks are read."""
    # Pillow's version is in the key because its resize is what the cache stores.
    digest = hashlib.sha256(
        f"seglab decoded cache {CACHE_FORMAT} Pillow {PIL.__version__} {image_size}px{labels_key}".encode())
    for sample in samples:
        digest.update(f"\0{sample.mask_kind}\0{_file_identity(sample.image)}\0{_file_identity(sample.mask)}".encode())
        if sample.mask_key or sample.context is not None:  # an export's: which annotations, read with which classes
            digest.update(f"\0{sample.mask_key}\0{_file_identity(sample.context)}".encode())
    return digest.hexdigest()[:KEY_HEX_CHARS]


def create_cache_file(path: Path, count: int, image_size: int) -> None:
    """Make `path` a zeroed cache file of the right size unless it already is one, never clobbering another's.

    The file is built under a temporary name and then linked into place, so a second process opening the
    same key either finds a complete file (and keeps what it holds) or makes its own.
    """
    nbytes = _file_nbytes(count, image_size)
    if _is_complete(path, nbytes):
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    except OSError as error:
        raise DataError(path.parent, f"cannot create the decoded-image cache ({error.strerror or error})") from error
    try:
        try:
            _reserve(descriptor, nbytes, path.parent)
        finally:
            os.close(descriptor)
        _install(Path(temporary), path, nbytes)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def map_cache_file(path: Path, count: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The file's filled flags (N,), images (N,3,S,S) and masks (N,1,S,S) as tensors writing through to it."""
    pixels = count * image_size * image_size
    mapped = torch.from_numpy(np.memmap(path, dtype=np.uint8, mode="r+", shape=(_file_nbytes(count, image_size),)))
    filled = mapped[:count]
    images = mapped[count : count + 3 * pixels].view(count, 3, image_size, image_size)
    masks = mapped[count + 3 * pixels :].view(count, 1, image_size, image_size)
    return filled, images, masks


def _file_nbytes(count: int, image_size: int) -> int:
    return count * (1 + 4 * image_size * image_size)


def _file_identity(path: Path | None) -> str:
    if path is None:
        return "no mask"
    absolute = os.path.abspath(path)
    try:
        stats = os.stat(absolute)
    except OSError:
        return f"{absolute}\0missing"  # loading it raises the DataError; the key only needs to differ
    return f"{absolute}\0{stats.st_size}\0{stats.st_mtime_ns}"


def _reserve(descriptor: int, nbytes: int, folder: Path) -> None:
    """Give the file `nbytes` of zeros, reserving the blocks where the OS can.

    Writing into a memory map past a full disk kills the process with SIGBUS; reserving turns that into an
    error here, before training starts.
    """
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(descriptor, 0, nbytes)
            return
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DataError(
                    folder, f"not enough free space for a {nbytes / 2**20:.0f} MB decoded-image cache"
                ) from error
            # Some filesystems cannot reserve space: a sparse file is the best left.
    os.ftruncate(descriptor, nbytes)


def _install(temporary: Path, path: Path, nbytes: int) -> None:
    """Move the finished file to `path`, unless another process has put a complete one there first."""
    try:
        os.link(temporary, path)  # unlike a rename, fails rather than replace a file another process just made
        return
    except OSError:
        pass  # the name is taken, or the filesystem has no hard links
    if not _is_complete(path, nbytes):
        os.replace(temporary, path)  # missing, or truncated (a full disk, a killed copy): ours replaces it


def _is_complete(path: Path, nbytes: int) -> bool:
    try:
        return path.stat().st_size == nbytes
    except FileNotFoundError:
        return False
