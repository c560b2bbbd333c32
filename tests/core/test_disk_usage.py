"""A run folder's size by kind (checkpoints, predictions, exports, logs, other), measured from file sizes, and
sizes written as people read them."""

from __future__ import annotations

import os
from pathlib import Path

from core.runs.disk_usage import human_size, run_disk_usage, tree_size


def write(path: Path, nbytes: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * nbytes)
    return path


def test_a_run_folder_is_measured_by_kind(tmp_path):
    run = tmp_path / "20261128-142501-unet-pets"
    write(run / "checkpoints" / "last.pt", 3000)
    write(run / "checkpoints" / "best.pt", 2000)
    write(run / "predictions" / "test" / "a_overlay.png", 700)
    write(run / "predictions" / "test" / "nested" / "b_mask.png", 300)
    write(run / "export" / "best-dynamic.onnx", 1500)
    write(run / "events.jsonl", 400)
    write(run / "train.log", 60)
    write(run / "progress.json", 40)
    write(run / "tensorboard" / "events.out.tfevents.1", 50)
    write(run / "config.json", 20)
    write(run / "status.json", 10)
    write(run / "progress" / "epoch-001.png", 5)

    usage = run_disk_usage(run)

    assert usage.sizes == {"checkpoints": 5000, "predictions": 1000, "exports": 1500, "logs": 550, "other": 35}
    assert usage.total == 8085
    assert usage.files == 12
    assert usage.name == run.name


def test_symlinks_are_not_followed_and_a_missing_folder_is_empty(tmp_path):
    outside = write(tmp_path / "big.bin", 10_000)
    run = tmp_path / "run"
    write(run / "config.json", 20)
    os.symlink(outside, run / "linked.bin")
    (run / "predictions" / "mine").mkdir(parents=True)
    os.symlink(outside, run / "predictions" / "mine" / "linked.bin")
    os.symlink(tmp_path, run / "predictions" / "mine" / "linked-folder")

    usage = run_disk_usage(run)

    assert usage.total < 1000  # the links' own sizes, not the 10 kB file nor the folder above
    assert run_disk_usage(tmp_path / "gone").total == 0
    assert tree_size(tmp_path / "gone").files == 0


def test_tree_size_gives_the_newest_time_inside(tmp_path):
    old = write(tmp_path / "folder" / "old.png", 1)
    new = write(tmp_path / "folder" / "deep" / "new.png", 1)
    os.utime(old, (1_000_000, 1_000_000))
    os.utime(new, (2_000_000, 2_000_000))
    os.utime(tmp_path / "folder" / "deep", (1_500_000, 1_500_000))
    os.utime(tmp_path / "folder", (1_000_000, 1_000_000))

    assert tree_size(tmp_path / "folder").newest == 2_000_000


def test_sizes_read_in_powers_of_a_thousand():
    assert [human_size(n) for n in (0, 999, 1000, 12_345, 1_500_000, 2_340_000_000, 5 * 10**12)] == [
        "0 B", "999 B", "1.0 kB", "12.3 kB", "1.5 MB", "2.3 GB", "5.0 TB"]
    assert human_size(999_960) == "1.0 MB"  # not "1000.0 kB"
