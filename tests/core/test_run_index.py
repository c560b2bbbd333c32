"""The runs folder's index (core/runs/run_index.py): a listing reads a status file only when it changed, sees every
change all the same (in this process and through the index file in the next), and skips what is not a run."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from core.config import TrainConfig
from core.errors import SeglabError
from core.runs import run_index
from core.runs.folders import create_run, open_run
from core.runs.run_index import INDEX_FILE, run_entries


def age(path, seconds: float = 60.0) -> None:
    """Set a file's (or folder's) times into the past, out of the index's racy window."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def aged_runs(root, count: int) -> list:
    """`count` runs named as create_run names them, all stamped the same second (made one by one, they could
    straddle a second and no longer share a prefix)."""
    runs = [create_run(TrainConfig(name=f"r{n}"), root, run_dir=root / f"20261207-051718-unet-r{n}")
            for n in range(count)]
    for run in runs:
        age(run.status_path)
        age(run.path)
    return runs


def test_a_listing_reads_only_changed_status_files_and_sees_each_change(tmp_path, monkeypatch):
    runs = aged_runs(tmp_path, 3)
    assert [entry.status.state for entry in run_entries(tmp_path)] == ["created"] * 3
    reads = []
    real = run_index._read_json
    monkeypatch.setattr(run_index, "_read_json", lambda path: reads.append(path.name) or real(path))
    assert len(run_entries(tmp_path)) == 3 and reads == []  # nothing changed: no file read
    runs[1].update_status(state="finished", epoch=4, best_dice=0.81)
    entries = {entry.name: entry for entry in run_entries(tmp_path)}
    assert entries[runs[1].name].status.best_dice == 0.81 and entries[runs[1].name].state() == "finished"
    assert reads == ["status.json", "sweep.json"]  # the changed run only


def test_the_next_process_reads_the_index_file_not_the_runs(tmp_path, monkeypatch):
    runs = aged_runs(tmp_path, 2)
    run_entries(tmp_path)
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert set(index["runs"]) == {run.name for run in runs}
    run_index._memory.clear()  # a new process
    real = run_index._read_json
    monkeypatch.setattr(run_index, "_read_json", lambda path: (_ for _ in ()).throw(AssertionError(path))
                        if path.name == "status.json" else real(path))
    assert {entry.name for entry in run_entries(tmp_path)} == {run.name for run in runs}


def test_a_status_written_within_the_clock_tick_is_read_again(tmp_path, monkeypatch):
    """A file system's mtime may not move between two writes in quick succession: fresh entries are not trusted."""
    monkeypatch.setattr(run_index, "RACY_S", 3600.0)  # "fresh" however long a busy machine takes between lines
    run = create_run(TrainConfig(name="quick"), tmp_path)
    stamp, folder = run.status_path.stat().st_mtime_ns, run.path.stat().st_mtime_ns
    assert run_entries(tmp_path)[0].status.state == "created"
    run.update_status(state="finished")
    os.utime(run.status_path, ns=(stamp, stamp))  # as if the clock had not ticked between the two writes
    os.utime(run.path, ns=(folder, folder))
    assert run_entries(tmp_path)[0].status.state == "finished"


def test_folders_that_are_not_runs_and_a_torn_index_are_ignored(tmp_path):
    (run,) = aged_runs(tmp_path, 1)
    (tmp_path / "sweeps").mkdir()  # a sweep's folder: no config.json
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / INDEX_FILE).write_text('{"version": 1, "runs": {"x": [1, 2')
    run_index._memory.clear()
    assert [entry.name for entry in run_entries(tmp_path)] == [run.name]


def test_open_run_finds_a_run_by_prefix_or_name_among_many(tmp_path):
    runs = aged_runs(tmp_path, 30)
    assert open_run(runs[7].name, tmp_path).path == runs[7].path
    assert open_run("r17", tmp_path).path == runs[17].path
    with pytest.raises(SeglabError, match=r"matches 30 runs \((\S+-r\d+, ){4}\S+-r\d+\); give more of the name"):
        open_run(runs[1].name.rsplit("-", 1)[0], tmp_path)


def test_listing_a_folder_without_runs_writes_nothing_there(tmp_path):
    """Not even after a folder at the same path held runs earlier in this process (a test's runs folder is
    deleted and made again at the same path; a user may delete every run while the dashboard lists)."""
    aged_runs(tmp_path, 2)
    assert len(run_entries(tmp_path)) == 2
    for folder in list(tmp_path.iterdir()):
        if folder.is_dir():
            shutil.rmtree(folder)
        else:
            folder.unlink()
    assert run_entries(tmp_path) == [] and list(tmp_path.iterdir()) == []
