"""`seglab clean`'s plan and its application: last.pt of finished runs, exports and temp files go; predictions and
best.pt only from runs the user chose, never with --keep-best; a live run is never touched, even if it comes alive
after the plan; decoded-image caches go only when no run reads them and no process has them open."""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from core.config import TrainConfig
from core.data.cache_files import cache_file_path, create_cache_file
from core.run_data import cache_root, run_labels, split_dataset, split_samples, synthetic_folder
from core.runs.cleaning import DAY_S, RECENT_S, apply_clean, plan_clean
from core.runs.folders import Run, create_run, runs_root
from core.runs.status import State

RECORD = ("config.json", "status.json", "events.jsonl", "results.csv", "curves.png")
OLD = 2 * RECENT_S  # seconds: old enough not to count as in use


def make_run(config: TrainConfig, name: str, state: str, files: dict[str, int], age_s: float = OLD,
             pid: int | None = None) -> Run:
    """A run folder in `state` holding the record files and `files` (path: bytes), everything last changed
    `age_s` ago."""
    run = create_run(config.replace(name=name), runs_root())
    run.update_status(state=state, pid=pid, host=socket.gethostname())
    for relative, nbytes in {"events.jsonl": 50, "results.csv": 30, "curves.png": 40, **files}.items():
        path = run.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * nbytes)
    age(run.path, age_s)
    return run


def age(path: Path, seconds: float) -> None:
    """Set the mtime of `path` and everything under it to `seconds` ago."""
    when = time.time() - seconds
    for inner in [*path.rglob("*"), path] if path.is_dir() else [path]:
        os.utime(inner, (when, when), follow_symlinks=False)


def removed_paths(plan) -> set[Path]:
    return {removal.path for removal in plan.removals}


@pytest.fixture
def live_process():
    """A process that stands in for a live training process."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


FULL = {"checkpoints/last.pt": 3000, "checkpoints/best.pt": 2000, "checkpoints/.last.pt.123.tmp": 500,
        ".progress.json.77.tmp": 20,
        "predictions/test/a_overlay.png": 700, "export/best-dynamic.onnx": 1500, "export/best-dynamic.onnx.json": 10}


TEMP_FILE = "temp file checkpoints/.last.pt.123.tmp"


def test_plain_clean_removes_last_pt_exports_and_temp_files_of_finished_runs_and_keeps_models_and_record(
        tiny_config):
    finished = make_run(tiny_config, "done", State.FINISHED, FULL)
    stopped = make_run(tiny_config, "halted", State.STOPPED, FULL)

    plan = plan_clean(runs_root())

    assert {(removal.owner, removal.what) for removal in plan.removals} == {
        (finished.name, "last.pt"), (finished.name, "export/"), (finished.name, TEMP_FILE),
        (stopped.name, "export/"), (stopped.name, TEMP_FILE),
        (finished.name, "temp file .progress.json.77.tmp"), (stopped.name, "temp file .progress.json.77.tmp")}
    assert plan.bytes == 3000 + 2 * (1510 + 500 + 20)
    assert plan.files == 1 + 2 * 4
    assert any(note.owner == stopped.name and "--resume" in note.text for note in plan.kept)
    result = apply_clean(plan)
    assert result.bytes == plan.bytes and not result.not_removed
    assert not finished.checkpoint_path("last").exists()
    assert stopped.checkpoint_path("last").exists()  # what `seglab train --resume` continues from
    for run in (finished, stopped):
        assert run.checkpoint_path("best").exists()
        assert (run.predictions_dir / "test" / "a_overlay.png").exists()  # plain clean keeps predictions
        assert not (run.path / "export").exists()
        assert not list(run.checkpoints_dir.glob(".*.tmp")) and not list(run.path.glob(".*.tmp"))
        assert all((run.path / name).exists() for name in RECORD)


def test_runs_named_lose_predictions_and_the_best_pt_of_finished_and_pruned_runs(tiny_config):
    finished = make_run(tiny_config, "done", State.FINISHED, FULL)
    pruned = make_run(tiny_config, "trial", State.PRUNED, FULL)
    failed = make_run(tiny_config, "broke", State.FAILED, FULL)
    untouched = make_run(tiny_config, "other", State.FINISHED, FULL)

    apply_clean(plan_clean(runs_root(), ["done", pruned.name, str(failed.path)]))

    for run in (finished, pruned):
        assert not run.checkpoint_path("best").exists() and not run.checkpoint_path("last").exists()
    assert failed.checkpoint_path("best").exists() and failed.checkpoint_path("last").exists()  # resumable
    for run in (finished, pruned, failed):
        assert not run.predictions_dir.joinpath("test").exists()
        assert all((run.path / name).exists() for name in RECORD)
    assert untouched.checkpoint_path("last").exists()  # not named
    assert untouched.predictions_dir.joinpath("test").exists()


def test_keep_best_keeps_every_best_pt(tiny_config):
    runs = [make_run(tiny_config, f"r{i}", state, FULL, age_s=40 * DAY_S)
            for i, state in enumerate((State.FINISHED, State.PRUNED, State.STOPPED, State.FAILED))]

    for plan in (plan_clean(runs_root(), [run.name for run in runs], keep_best=True),
                 plan_clean(runs_root(), older_than_days=30, keep_best=True)):
        assert not [removal for removal in plan.removals if removal.what == "best.pt"]
        apply_clean(plan)

    assert all(run.checkpoint_path("best").exists() for run in runs)
    assert not runs[0].checkpoint_path("last").exists()
    assert not runs[0].predictions_dir.joinpath("test").exists()


def test_clean_never_touches_a_live_run(tiny_config, live_process):
    live = make_run(tiny_config, "live", State.RUNNING, FULL, pid=live_process.pid)
    finished = make_run(tiny_config, "done", State.FINISHED, FULL)
    before = sorted(path for path in live.path.rglob("*"))

    plans = [plan_clean(runs_root()), plan_clean(runs_root(), older_than_days=0),
             plan_clean(runs_root(), ["live", "done"])]
    for plan in plans:
        assert not [removal for removal in plan.removals if removal.run == live.path]
        apply_clean(plan)

    assert sorted(path for path in live.path.rglob("*")) == before
    assert not finished.checkpoint_path("last").exists()
    (note,) = plans[2].skipped
    assert note.owner == live.name and f"running (pid {live_process.pid} on {socket.gethostname()})" in note.text


def test_a_run_that_comes_alive_after_the_plan_is_left_alone(tiny_config, live_process):
    run = make_run(tiny_config, "done", State.FINISHED, FULL)
    plan = plan_clean(runs_root(), ["done"])
    assert plan.removals

    run.update_status(state=State.RUNNING, pid=live_process.pid, host=socket.gethostname())
    result = apply_clean(plan)

    assert not result.removed
    assert run.checkpoint_path("last").exists() and run.checkpoint_path("best").exists()
    assert all("live again" in note.text for note in result.not_removed)


def test_a_dead_running_run_is_interrupted_and_keeps_its_last_pt(tiny_config):
    gone = subprocess.Popen(["true"])
    gone.wait()
    run = make_run(tiny_config, "killed", State.RUNNING, FULL, pid=gone.pid)

    apply_clean(plan_clean(runs_root(), ["killed"]))

    assert run.checkpoint_path("last").exists() and run.checkpoint_path("best").exists()
    assert not run.predictions_dir.joinpath("test").exists()  # the run was chosen and is over


def test_older_than_picks_old_runs_and_their_old_predictions(tiny_config):
    old = make_run(tiny_config, "old", State.FINISHED, FULL, age_s=40 * DAY_S)
    recent = make_run(tiny_config, "recent", State.FINISHED, FULL, age_s=2 * DAY_S)
    (old.predictions_dir / "again" / "x.png").parent.mkdir()
    (old.predictions_dir / "again" / "x.png").write_bytes(b"x" * 10)
    age(old.predictions_dir / "again", 3 * DAY_S)  # predicted again lately from the old run's best.pt

    plan = plan_clean(runs_root(), older_than_days=30)
    apply_clean(plan)

    assert not old.checkpoint_path("last").exists() and not old.checkpoint_path("best").exists()
    assert not (old.predictions_dir / "test").exists()
    assert (old.predictions_dir / "again" / "x.png").exists()
    assert all(path.exists() for path in (recent.checkpoint_path("last"), recent.checkpoint_path("best"),
                                          recent.predictions_dir / "test"))
    (note,) = plan_clean(runs_root(), ["recent"], older_than_days=30).skipped
    assert note.owner == recent.name and "newer than --older-than 30 days" in note.text


def test_predictions_written_minutes_ago_are_kept_as_in_use(tiny_config):
    run = make_run(tiny_config, "done", State.FINISHED, FULL)
    age(run.predictions_dir / "test", 5)  # a predict may still be writing there

    plan = plan_clean(runs_root(), ["done"])
    apply_clean(plan)

    assert (run.predictions_dir / "test" / "a_overlay.png").exists()
    assert any(note.text.startswith("predictions/test: written") for note in plan.kept)


def test_files_written_after_the_plan_are_left_alone(tiny_config):
    run = make_run(tiny_config, "done", State.FINISHED, FULL)
    plan = plan_clean(runs_root(), ["done"])

    (run.predictions_dir / "test" / "b_overlay.png").write_bytes(b"new")
    result = apply_clean(plan)

    assert (run.predictions_dir / "test" / "b_overlay.png").exists()
    assert any(note.text == "predictions/test: kept, written since the plan" for note in result.not_removed)
    assert not run.checkpoint_path("last").exists()


def test_orphaned_decoded_caches_go_and_those_runs_read_or_processes_map_stay(tiny_config):
    config = tiny_config.replace(cache="disk")
    make_run(config, "cached", State.FINISHED, {})
    for split in ("train", "val"):  # the caches training made, named by the real code
        split_dataset(config.with_absolute_paths(), split)
    gc.collect()  # let go of the memory maps: only the name should keep these
    decoded = cache_root() / "decoded"
    real = sorted(decoded.iterdir())
    assert len(real) == 2
    orphan = decoded / "decoded-32px-5-0123456789abcdef.u8"
    mapped = decoded / "decoded-32px-2-fedcba9876543210.u8"
    fresh = decoded / "decoded-32px-3-00000000000000ff.u8"
    create_cache_file(orphan, 5, 32)
    create_cache_file(mapped, 2, 32)
    create_cache_file(fresh, 3, 32)
    for path in (*real, orphan, mapped):
        age(path, 5 * DAY_S)
    in_use = np.memmap(mapped, dtype=np.uint8, mode="r")

    plan = plan_clean(runs_root())
    assert {removal.path for removal in plan.removals if removal.run is None} == {orphan}
    assert all(removal.run is not None for removal in plan_clean(runs_root(), ["cached"]).removals)  # named: no caches
    apply_clean(plan)

    assert sorted(decoded.iterdir()) == sorted([*real, mapped, fresh])
    assert any(note.owner == "(cache)" and "open in a running process" in note.text for note in plan.kept)
    del in_use

    shutil.rmtree(synthetic_folder(config))  # the data is gone: no run reads those caches any more
    apply_clean(plan_clean(runs_root()))
    assert sorted(decoded.iterdir()) == [fresh]
    assert not synthetic_folder(config).exists()  # planning never generates data to name its caches


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_caches_a_run_reads_are_named_as_training_names_them(tiny_config, task):
    config = tiny_config.replace(task=task, loss="bce" if task == "binary" else "ce").with_absolute_paths()
    make_run(config, "cached", State.FINISHED, {})
    samples = split_samples(config, "test")  # a split training never cached: evaluate and predict do
    path = cache_file_path(samples, config.image_size, cache_root() / "decoded", run_labels(config).cache_key())
    create_cache_file(path, len(samples), config.image_size)
    age(path, 5 * DAY_S)

    apply_clean(plan_clean(runs_root()))

    assert path.exists()


def test_anything_written_in_the_last_ten_minutes_is_kept_checkpoints_included(tiny_config):
    """A sweep's trial that finished seconds ago, its export and predictions still being read: nothing goes
    until RECENT_S have passed (the README's "anything written in the last 10 minutes is left alone")."""
    fresh = make_run(tiny_config, "fresh", State.FINISHED, FULL, age_s=30)
    plan = plan_clean(runs_root(), [fresh.name])
    assert plan.removals == ()
    kept = {note.text.split(":")[0] for note in plan.kept if note.owner == fresh.name}
    everything = {"last.pt", "best.pt", "export/", "predictions/test", TEMP_FILE, "temp file .progress.json.77.tmp"}
    assert kept == everything
    assert all("may be in use" in note.text for note in plan.kept if note.owner == fresh.name)

    later = plan_clean(runs_root(), [fresh.name], now=time.time() + RECENT_S)
    assert {removal.what for removal in later.removals} == everything
