"""Synthetic dataset: reproducible bytes, 80/10/10 splits, binary masks, and shapes no colour threshold finds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import detect_layout, list_samples
from core.data.images import load_pair
from core.data.synthetic import ensure_synthetic, generate_synthetic, synthetic_dir, synthetic_pair
from core.errors import ConfigError


def all_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.png"))}


def test_same_seed_writes_identical_bytes_and_another_seed_different_ones(tmp_path):
    first = all_bytes(generate_synthetic(tmp_path / "a", count=4, size=32, seed=5))
    again = all_bytes(generate_synthetic(tmp_path / "b", count=4, size=32, seed=5))
    other = all_bytes(generate_synthetic(tmp_path / "c", count=4, size=32, seed=6))
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first)


def test_splits_are_eighty_ten_ten_with_at_least_one_each(tmp_path):
    root = generate_synthetic(tmp_path / "twenty", count=20, size=32, seed=0)
    assert detect_layout(root) == "folder"
    counts = {split: len(list_samples(root, split)) for split in ("train", "val", "test")}
    assert counts == {"train": 16, "val": 2, "test": 2}
    assert json.loads((root / "synthetic.json").read_text())["splits"] == counts
    small = generate_synthetic(tmp_path / "three", count=3, size=32, seed=0)
    assert {split: len(list_samples(small, split)) for split in ("train", "val", "test")} == {
        "train": 1, "val": 1, "test": 1,
    }  # fmt: skip


def test_files_are_rgb_images_with_0_255_masks_that_load_as_pairs(tmp_path):
    root = generate_synthetic(tmp_path / "set", count=3, size=40, seed=1)
    image_path = root / "train" / "images" / "synth_00000.png"
    assert Image.open(image_path).mode == "RGB" and Image.open(image_path).size == (40, 40)
    mask_file = np.asarray(Image.open(root / "train" / "masks" / "synth_00000.png"))
    assert set(np.unique(mask_file).tolist()) <= {0, 255}
    (sample,) = list_samples(root, "train")
    image, mask = load_pair(sample)
    assert image.size == (40, 40) and set(np.unique(mask).tolist()) <= {0, 1}


def pairs(count: int = 24, size: int = 48):
    return [synthetic_pair(size, np.random.default_rng([0, index])) for index in range(count)]


def test_foreground_covers_a_sensible_share_of_each_image():
    shares = [mask.mean() for _, mask in pairs()]
    assert all(share > 0 for share in shares)
    assert 0.05 <= np.mean(shares) <= 0.6


def test_foreground_colours_overlap_the_background():
    # The gap between mean colours stays within a couple of within-class spreads: colour alone is not enough.
    gaps = []
    for image, mask in pairs():
        pixels, foreground = image.reshape(-1, 3) / 255.0, mask.reshape(-1).astype(bool)
        gap = np.linalg.norm(pixels[foreground].mean(0) - pixels[~foreground].mean(0))
        spread = (np.linalg.norm(pixels[foreground].std(0)) + np.linalg.norm(pixels[~foreground].std(0))) / 2
        gaps.append(gap / spread)
    assert np.mean(gaps) < 2.5


def test_no_single_colour_threshold_segments_the_shapes_well():
    best_ious = []
    for image, mask in pairs():
        truth = mask.reshape(-1).astype(bool)
        pixels = image.reshape(-1, 3).astype(float)
        best = 0.0
        for channel in (*pixels.T, pixels.mean(1)):
            for threshold in np.quantile(channel, np.linspace(0.02, 0.98, 25)):
                for guess in (channel > threshold, channel <= threshold):
                    best = max(best, (guess & truth).sum() / (guess | truth).sum())
        best_ious.append(best)
    assert np.mean(best_ious) < 0.75


def test_ensure_generates_once_then_reuses_the_cached_set(tmp_path):
    first = ensure_synthetic(tmp_path, count=3, size=24, seed=2)
    assert first == synthetic_dir(tmp_path, 3, 24, 2) == tmp_path / "synthetic-n3-s24-seed2"
    marker_time = (first / "synthetic.json").stat().st_mtime_ns
    assert ensure_synthetic(tmp_path, count=3, size=24, seed=2) == first
    assert (first / "synthetic.json").stat().st_mtime_ns == marker_time
    assert [path.name for path in tmp_path.iterdir()] == [first.name]  # no staging folder left behind


def test_the_staging_folder_of_a_killed_generation_is_removed_by_the_next_one(tmp_path):
    """SIGTERM or kill -9 mid-generation left .synthetic-...-XXXX folders (hundreds of MB) that nothing removed."""
    import os
    import socket
    import subprocess
    import time

    gone = subprocess.Popen(["true"])
    gone.wait()
    target = synthetic_dir(tmp_path, 12, 32, 0)
    here = socket.gethostname()
    killed = tmp_path / f".{target.name}-{here}-{gone.pid}-abc123"
    working = tmp_path / f".{target.name}-{here}-{os.getpid()}-def456"  # a live process still generating
    elsewhere = tmp_path / f".{target.name}-another-host-{gone.pid}-ghi789"  # a shared cache: not ours to judge
    for folder in (killed, working, elsewhere):
        (folder / "images").mkdir(parents=True)
    older, recent = tmp_path / f".{target.name}-k3j9x_2a", tmp_path / f".{target.name}-p0q8w1zz"  # old names
    for folder in (killed, working, elsewhere, older, recent):
        (folder / "images").mkdir(parents=True, exist_ok=True)
    two_days_ago = time.time() - 2 * 86400
    os.utime(older, (two_days_ago, two_days_ago))
    ensure_synthetic(tmp_path, 12, 32, 0)
    assert not killed.exists() and not older.exists() and working.is_dir() and elsewhere.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, working.name, elsewhere.name,
                                                                 recent.name])


def test_ensure_replaces_a_half_written_set(tmp_path):
    half = synthetic_dir(tmp_path, 3, 24, 2)
    (half / "train" / "images").mkdir(parents=True)
    root = ensure_synthetic(tmp_path, count=3, size=24, seed=2)
    assert (root / "synthetic.json").is_file()
    assert len(list_samples(root, "all")) == 3


@pytest.mark.parametrize(("count", "size"), [(2, 32), (10, 8)])
def test_too_few_or_too_small_images_are_a_config_error(tmp_path, count, size):
    with pytest.raises(ConfigError):
        generate_synthetic(tmp_path, count=count, size=size, seed=0)


def test_a_folder_holding_other_files_is_refused_and_a_set_made_before_is_redone(tmp_path):
    mine = tmp_path / "mine"
    (mine / "images").mkdir(parents=True)
    (mine / "images" / "cat.jpg").write_bytes(b"a photo")
    with pytest.raises(ConfigError, match=f"{mine}: holds other files; the synthetic pairs would mix with them"):
        generate_synthetic(mine, count=6, size=32, seed=0)
    assert sorted(p.name for p in mine.iterdir()) == ["images"]  # nothing written
    generate_synthetic(tmp_path / "set", count=6, size=32, seed=0)
    generate_synthetic(tmp_path / "set", count=6, size=32, seed=1)  # the same folder again: allowed
