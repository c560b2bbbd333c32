"""Decoded-image cache: decodes each sample once, shares it with workers and later runs, and changes no output."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import core.data.cache
import core.data.dataset
from core.data.cache import CACHE_MODES, build_cache, cache_nbytes
from core.data.dataset import SegmentationDataset
from core.data.samples import Sample
from core.errors import ConfigError, DataError

SIZE = 32


def write_samples(folder: Path, count: int = 6, seed: int = 0) -> list[Sample]:
    """`count` noisy 48x40 PNG images with a random-rectangle binary mask each (not square: resize does work)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for index in range(count):
        image, mask = folder / f"pet_{index}.png", folder / f"pet_{index}_mask.png"
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(image)
        mask_pixels = np.zeros((40, 48), np.uint8)
        top, left = rng.integers(0, 20, 2)
        mask_pixels[top : top + 16, left : left + 20] = 255
        Image.fromarray(mask_pixels).save(mask)
        samples.append(Sample(name=f"pet_{index}", image=image, mask=mask, mask_kind="binary"))
    return samples


@pytest.fixture
def samples(tmp_path) -> list[Sample]:
    return write_samples(tmp_path / "data")


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """The image path of every decode the dataset does from now on, in this process."""
    calls: list[Path] = []
    real_load_pair = core.data.dataset.load_pair

    def counting_load_pair(sample, *labels):
        calls.append(sample.image)
        return real_load_pair(sample, *labels)

    monkeypatch.setattr(core.data.dataset, "load_pair", counting_load_pair)
    return calls


def forbid_decoding(monkeypatch) -> None:
    """From now on any decode fails, so a read that still works must come from the cache."""

    def no_decode(sample, *labels):
        raise AssertionError(f"decoded {sample.image} again")

    monkeypatch.setattr(core.data.dataset, "load_pair", no_decode)


def read_all(dataset: SegmentationDataset) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [dataset[index] for index in range(len(dataset))]


def assert_same_items(first, second) -> None:
    assert len(first) == len(second)
    for (image_a, mask_a), (image_b, mask_b) in zip(first, second, strict=True):
        assert torch.equal(image_a, image_b) and torch.equal(mask_a, mask_b)


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_a_cached_sample_is_decoded_once_however_often_it_is_read(samples, decodes, tmp_path, mode):
    cache = build_cache(samples, SIZE, mode, tmp_path / "cache")
    dataset = SegmentationDataset(samples, SIZE, cache=cache)
    first = read_all(dataset)
    second = read_all(dataset)
    assert decodes == [sample.image for sample in samples]
    assert cache.filled_count() == len(samples)
    assert_same_items(first, second)


@pytest.mark.parametrize("augment", ["none", "flip", "elastic"])
def test_cached_dataset_gives_the_same_tensors_as_uncached_under_the_same_seed(samples, tmp_path, augment):
    torch.manual_seed(7)
    uncached = read_all(SegmentationDataset(samples, SIZE, augment=augment))
    cache = build_cache(samples, SIZE, "memory", tmp_path)
    cached_dataset = SegmentationDataset(samples, SIZE, augment=augment, cache=cache)
    torch.manual_seed(7)
    filling = read_all(cached_dataset)
    torch.manual_seed(7)
    from_cache = read_all(cached_dataset)
    assert_same_items(uncached, filling)
    assert_same_items(uncached, from_cache)
    if augment != "none":  # the seed really made augmentation do something, so the comparison means something
        plain = read_all(SegmentationDataset(samples, SIZE))
        assert any(not torch.equal(a[0], b[0]) for a, b in zip(uncached, plain, strict=True))


def test_augmenting_or_editing_what_the_cache_returned_leaves_the_cache_unchanged(samples, tmp_path, monkeypatch):
    expected = read_all(SegmentationDataset(samples, SIZE))
    cache = build_cache(samples, SIZE, "memory", tmp_path)
    augmented = SegmentationDataset(samples, SIZE, augment="elastic", cache=cache)
    torch.manual_seed(0)
    for _ in range(3):
        read_all(augmented)
    image, mask = cache.get(0, lambda: pytest.fail("sample 0 should be cached"))
    image.zero_()
    mask.fill_(7)
    forbid_decoding(monkeypatch)
    assert_same_items(read_all(SegmentationDataset(samples, SIZE, cache=cache)), expected)


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_dataloader_workers_fill_the_cache_the_next_epoch_reads(samples, tmp_path, monkeypatch, mode):
    cache = build_cache(samples, SIZE, mode, tmp_path / "cache")
    dataset = SegmentationDataset(samples, SIZE, cache=cache)
    loader = DataLoader(dataset, batch_size=2, num_workers=2)
    first_epoch = list(loader)
    assert cache.filled_count() == len(samples)  # written by the workers, seen by this process
    forbid_decoding(monkeypatch)  # forked workers inherit the patch: they too must read the cache
    assert_same_items(list(loader), first_epoch)


def test_spawned_workers_fill_a_shared_memory_cache(samples, tmp_path, monkeypatch):
    cache = build_cache(samples, SIZE, "memory", tmp_path)
    dataset = SegmentationDataset(samples, SIZE, cache=cache)
    first_epoch = list(DataLoader(dataset, batch_size=2, num_workers=2, multiprocessing_context="spawn"))
    assert cache.filled_count() == len(samples)
    forbid_decoding(monkeypatch)
    assert_same_items(list(DataLoader(dataset, batch_size=2)), first_epoch)


def test_a_pickled_disk_cache_writes_to_the_same_file(samples, tmp_path):
    # Spawned DataLoader workers get the dataset pickled: their fills must reach the parent's cache.
    cache = build_cache(samples, SIZE, "disk", tmp_path)
    worker_copy = pickle.loads(pickle.dumps(cache))
    SegmentationDataset(samples, SIZE, cache=worker_copy)[2]
    assert cache.filled_count() == 1


def test_disk_cache_is_reused_by_the_next_run_and_rebuilt_when_an_image_changes(samples, tmp_path, decodes):
    cache_dir = tmp_path / "cache"
    first_run = build_cache(samples, SIZE, "disk", cache_dir)
    before = read_all(SegmentationDataset(samples, SIZE, cache=first_run))
    assert len(decodes) == len(samples)

    next_run = build_cache(samples, SIZE, "disk", cache_dir)
    assert next_run.path == first_run.path and next_run.filled_count() == len(samples)
    assert_same_items(read_all(SegmentationDataset(samples, SIZE, cache=next_run)), before)
    assert len(decodes) == len(samples)

    edited = samples[3].image
    Image.new("RGB", (48, 40), (250, 10, 10)).save(edited)
    os.utime(edited, ns=(1_000_000_000, 1_000_000_000))  # a different mtime even on a coarse-clock filesystem
    after_edit = build_cache(samples, SIZE, "disk", cache_dir)
    assert after_edit.path != first_run.path and after_edit.filled_count() == 0
    image, _ = SegmentationDataset(samples, SIZE, cache=after_edit)[3]
    assert len(decodes) == len(samples) + 1
    assert not torch.equal(image, before[3][0])
    assert sorted(path.name for path in cache_dir.iterdir()) == sorted([first_run.path.name, after_edit.path.name])


def test_adding_or_removing_a_sample_gives_the_disk_cache_a_new_file(samples, tmp_path):
    extra = write_samples(tmp_path / "more", count=1, seed=1)
    paths = {build_cache(listed, SIZE, "disk", tmp_path / "cache").path
             for listed in (samples, samples[:-1], samples + extra)}
    assert len(paths) == 3
    assert build_cache(samples, SIZE * 2, "disk", tmp_path / "cache").path not in paths


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_a_failed_decode_leaves_the_entry_unfilled_and_the_next_read_decodes_again(samples, tmp_path, mode):
    broken = samples[1].image
    good_bytes = broken.read_bytes()
    broken.write_bytes(b"not a png")
    cache = build_cache(samples, SIZE, mode, tmp_path / "cache")
    dataset = SegmentationDataset(samples, SIZE, cache=cache)
    with pytest.raises(DataError, match="cannot read image"):
        dataset[1]
    assert cache.filled_count() == 0
    broken.write_bytes(good_bytes)
    image, _ = dataset[1]
    assert torch.equal(image, SegmentationDataset(samples, SIZE)[1][0])
    assert cache.filled_count() == 1


def test_auto_keeps_a_small_set_in_memory_and_a_large_one_on_disk(samples, tmp_path, monkeypatch):
    assert build_cache(samples, SIZE, "auto", tmp_path / "cache").mode == "memory"
    monkeypatch.setattr(core.data.cache, "physical_memory_bytes", lambda: 4 * cache_nbytes(len(samples), SIZE) - 1)
    on_disk = build_cache(samples, SIZE, "auto", tmp_path / "cache")
    assert on_disk.mode == "disk" and on_disk.path.parent == tmp_path / "cache"
    assert on_disk.nbytes == len(samples) * 4 * SIZE * SIZE


def test_auto_falls_back_to_memory_when_the_machine_hides_its_ram_size(samples, tmp_path, monkeypatch):
    monkeypatch.setattr(core.data.cache, "physical_memory_bytes", lambda: None)
    assert build_cache(samples, SIZE, "auto", tmp_path).mode == "memory"


def test_mode_none_builds_no_cache_and_an_unknown_mode_lists_the_valid_ones(samples, tmp_path):
    assert CACHE_MODES == ("auto", "memory", "disk", "none")
    assert build_cache(samples, SIZE, "none", tmp_path) is None
    with pytest.raises(ConfigError, match="auto, memory, disk, none"):
        build_cache(samples, SIZE, "ram", tmp_path)


def test_dataset_refuses_a_cache_built_for_another_image_size(samples, tmp_path):
    with pytest.raises(ValueError, match="64 px"):
        SegmentationDataset(samples, SIZE, cache=build_cache(samples, 64, "memory", tmp_path))
