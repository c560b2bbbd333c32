"""Nothing lost: a training process killed with SIGKILL at any point (mid-step, inside a checkpoint
write, inside an event write) leaves a loadable last.pt of the last finished epoch, a parsable
event log, a run shown as interrupted, and `--resume` reaches the uninterrupted run's weights.
SIGTERM and SIGHUP stop gracefully like Ctrl-C; a second signal quits at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.runs.events import EpochEvent, EventLog, StatusEvent, read_events
from core.runs.folders import Run, create_run, list_runs, runs_root
from core.training.checkpoints import load_checkpoint
from core.training.engine import train

pytestmark = pytest.mark.slow

# 20 train images, batch 4: five steps an epoch; epoch 1 writes best.pt then last.pt
STEPS_PER_EPOCH = 5
TRAIN_ARGS = ["--data", "synthetic", "--epochs", "2", "--batch-size", "4", "--image-size", "32", "--width", "8",
              "--synthetic-count", "24", "--synthetic-size", "32", "--device", "cpu", "--name", "crash"]


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def start_training(tmp_path: Path, point: str, skip: int, extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
    marker = tmp_path / f"paused-{point}-{skip}"
    env = child_env(SEGLAB_PAUSE_AT=point, SEGLAB_PAUSE_SKIP=str(skip), SEGLAB_PAUSE_MARKER=str(marker))
    child = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *TRAIN_ARGS, *extra_args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "the child never reached its pause point"
        time.sleep(0.05)
    return child


def the_run() -> Run:
    (run,) = list_runs(runs_root())
    return run


def has_finished_an_epoch() -> bool:
    runs = list_runs(runs_root())
    return bool(runs) and any(isinstance(e, EpochEvent) for e in read_events(runs[0].events_path))


def resume(run: Run) -> None:
    result = subprocess.run([sys.executable, "-m", "tui.cli", "train", "--resume", str(run.path)],
                            env=child_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def uninterrupted_weights(tmp_path_factory) -> dict[str, torch.Tensor]:
    """The weights a run that nobody killed ends with (trained in a child process, like the others)."""
    runs = tmp_path_factory.mktemp("uninterrupted")
    env = child_env(SEGLAB_RUNS_DIR=str(runs))
    subprocess.run([sys.executable, "-m", "tui.cli", "train", *TRAIN_ARGS], env=env, check=True,
                   capture_output=True, timeout=180)
    (run,) = list_runs(runs)
    return load_checkpoint(run.checkpoint_path("last"))["model"]


@pytest.mark.parametrize(
    ("point", "skip", "epoch_in_last_pt", "logged_epochs"),
    [
        ("train-step", 2, None, []),  # third step of epoch 1: no checkpoint yet
        ("train-step", STEPS_PER_EPOCH + 2, 1, [1]),  # mid epoch 2
        ("checkpoint-write", 2, 1, [1]),  # writing epoch 2's first checkpoint: temp file there, not renamed
        ("event-write-epoch", 1, 2, [1]),  # half of epoch 2's line written (its checkpoints already are)
    ],
    ids=["mid-step-epoch-1", "mid-step-epoch-2", "inside-checkpoint-write", "inside-event-write"],
)
def test_a_run_killed_at_any_point_keeps_its_last_epoch_and_resumes_to_the_same_weights(
    tmp_path, uninterrupted_weights, point, skip, epoch_in_last_pt, logged_epochs
):
    child = start_training(tmp_path, point, skip)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    run = the_run()

    last = run.checkpoint_path("last")
    if epoch_in_last_pt is None:
        assert not last.exists()
    else:
        assert load_checkpoint(last)["epoch"] == epoch_in_last_pt
    events = read_events(run.events_path)  # a torn last line is skipped, never an error
    assert [e.epoch for e in events if isinstance(e, EpochEvent)] == logged_epochs
    assert run.state() == "interrupted"

    resume(run)
    assert run.state() == "finished"
    final = load_checkpoint(last)["model"]
    for key, value in uninterrupted_weights.items():
        assert torch.allclose(final[key].float(), value.float(), atol=1e-6), key
    lines = run.events_path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # the log ends on a complete line
    assert [e.state for e in read_events(run.events_path) if isinstance(e, StatusEvent)][-1] == "finished"
    assert not list(run.checkpoints_dir.glob(".*.tmp"))  # a killed write's temp file is swept on resume


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_gracefully_like_ctrl_c(tmp_path, sig):
    child = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *TRAIN_ARGS[:3], "50", *TRAIN_ARGS[4:]],
                             env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not has_finished_an_epoch():
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.1)
    child.send_signal(sig)
    assert child.wait(timeout=60) == 130
    run = the_run()
    assert run.state() == "stopped"
    assert load_checkpoint(run.checkpoint_path("last"))["epoch"] >= 1


def test_a_second_signal_quits_at_once(tmp_path):
    child = start_training(tmp_path, "train-step", STEPS_PER_EPOCH + 1)  # paused: the first signal cannot finish
    child.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert child.poll() is None  # still finishing the step
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 130
    run = the_run()
    assert run.read_status().state == "stopped"
    assert load_checkpoint(run.checkpoint_path("last"))["epoch"] == 1


def test_a_new_writer_starts_on_a_fresh_line_after_a_torn_one(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.write(StatusEvent(state="running"))
    with open(path, "ab") as f:
        f.write(b'{"type":"epoch","epo')  # a crash mid-line
    with EventLog(path) as log:
        log.write(StatusEvent(state="finished"))
    assert [e.state for e in read_events(path)] == ["running", "finished"]


def test_two_runs_and_a_prediction_at_once_keep_their_own_files(tiny_config):
    """Concurrent jobs in one runs folder: distinct folders, and each run's files are its own."""
    first = create_run(tiny_config.replace(name="twin"), runs_root())
    train(tiny_config.replace(name="twin"), first)
    env = child_env()
    jobs = [subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *TRAIN_ARGS[:-1], f"twin{i}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in (1, 2)]
    jobs.append(subprocess.Popen([sys.executable, "-m", "tui.cli", "predict", str(first.path)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for job in jobs:
        assert job.wait(timeout=300) == 0, job.stderr.read().decode()
    runs = list_runs(runs_root())
    assert len(runs) == 3
    for run in runs:
        assert run.state() == "finished"
        starts = [e for e in read_events(run.events_path) if isinstance(e, StatusEvent) and e.state == "running"]
        assert len(starts) == 1  # no other job's events in this log
        assert load_checkpoint(run.checkpoint_path("last"))["config"]["name"] == run.load_config().name
    assert (first.predictions_dir / "test" / "results.csv").is_file()
