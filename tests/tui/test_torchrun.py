"""`seglab train --nproc 2`: two CPU processes under torchrun (gloo) train one run. Rank 0 alone writes
it; validation equals a single-process evaluation; the weights equal one process accumulating the same
global batch; a killed rank ends the others; a signal to any rank stops all, resumable under 1 process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.config import TrainConfig
from core.device import resolve_runtime
from core.inference.evaluation import evaluate_run
from core.losses import build_loss
from core.models import build_model
from core.run_data import split_dataset
from core.runs.events import CheckpointEvent, EpochEvent, StatusEvent, read_events
from core.runs.folders import Run, list_runs, runs_root
from core.training.checkpoints import load_checkpoint
from core.training.distributed import Distributed
from core.training.launch import torchrun_command, training_command
from core.training.loops import build_optimizer, make_loader

# 48 synthetic images: 38 train, 5 val (an odd number, so the two evaluation shards differ in length)
TINY = ["--data", "synthetic", "--synthetic-count", "48", "--synthetic-size", "32", "--image-size", "32",
        "--width", "8", "--batch-size", "8", "--device", "cpu", "--precision", "fp32", "--workers", "0"]


def seglab(*args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def the_run() -> Run:
    runs = list_runs(runs_root())
    assert len(runs) == 1, [run.name for run in runs]
    return runs[0]


def test_nproc_hands_the_same_options_to_torchrun():
    command = torchrun_command(2, {"model": "unet", "epochs": 3, "lr": 0.001, "compile": False, "skip_bad": True})
    assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert command[5:] == ["-m", "tui.cli", "train", "--model", "unet", "--epochs", "3", "--lr", "0.001",
                           "--no-compile", "--skip-bad"]
    assert torchrun_command(4, {}, resume="20261128-1425")[-2:] == ["--resume", "20261128-1425"]
    run = Run(Path("runs/20261128-142501-unet-x"))
    assert training_command(run, Path("runs"), processes=2)[-2:] == ["--nproc", "2"]  # the dashboard's child
    assert "--nproc" not in training_command(run, Path("runs"))


def test_a_global_batch_that_does_not_split_fails_before_launching():
    code, err = finish(seglab(*TINY, "--epochs", "1", "--batch-size", "9", "--nproc", "2"), timeout=60)
    assert code == 2
    assert err.strip() == ("seglab: error: batch_size: the global batch 9 does not split evenly over 2 processes; "
                           "use a multiple of 2")
    assert list_runs(runs_root()) == []


@pytest.mark.slow
def test_two_processes_write_one_run_whose_val_dice_equals_a_single_process_evaluation():
    code, err = finish(seglab(*TINY, "--epochs", "1", "--lr", "0.02", "--nproc", "2", "--name", "ddp"))
    assert code == 0, err
    run = the_run()
    events = read_events(run.events_path)
    (epoch,) = [e for e in events if isinstance(e, EpochEvent)]
    assert [e.state for e in events if isinstance(e, StatusEvent)] == ["running", "finished"]
    assert sorted(Path(e.path).name for e in events if isinstance(e, CheckpointEvent)) == ["best.pt", "last.pt"]
    assert run.read_status().runtime["processes"] == 2
    assert run.read_status().runtime["batch_per_process"] == 4
    assert run.read_status().val_images == 5

    single = evaluate_run(run, split="val", checkpoint="last", device="cpu")
    assert single["images"] == 5
    assert 0.05 < epoch.val_dice < 0.99  # a real score, not an empty prediction on both sides
    assert epoch.val_dice == pytest.approx(single["dice"], abs=1e-6)
    assert epoch.val_iou == pytest.approx(single["iou"], abs=1e-6)
    assert epoch.val_loss == pytest.approx(single["loss"], rel=1e-5)


@pytest.mark.slow
def test_a_bottleneck_encoder_trains_under_two_processes_and_validates_as_one_process_would():
    code, err = finish(seglab(*TINY, "--model", "resnet50_unet", "--epochs", "1", "--lr", "0.02", "--nproc", "2"))
    assert code == 0, err
    run = the_run()
    (epoch,) = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    assert run.read_status().runtime["processes"] == 2
    single = evaluate_run(run, split="val", checkpoint="last", device="cpu")
    assert epoch.val_loss == pytest.approx(single["loss"], rel=1e-5)
    assert epoch.val_dice == pytest.approx(single["dice"], abs=1e-6)


def one_process_accumulating(config: TrainConfig) -> torch.nn.Module:
    """The same training in this process: each global batch of 8 as the two micro-batches of 4 the two
    ranks see, gradients of the halves' mean losses summed with weight 1/2 (what DDP's averaging does)."""
    runtime = resolve_runtime("cpu", "fp32", config.memory_format)
    torch.manual_seed(config.seed)
    model = runtime.prepare_model(build_model(config.model, width=config.width))
    optimizer = build_optimizer(model, config, runtime)
    loss_fn = build_loss(config.loss)
    train_set = split_dataset(config, "train", augment=config.augment)
    loaders = [make_loader(train_set, config, runtime, shuffle=True, distributed=Distributed(rank, 2))
               for rank in (0, 1)]
    model.train()
    for epoch in range(1, config.epochs + 1):
        for loader in loaders:
            loader.sampler.set_epoch(epoch)
        for halves in zip(*loaders, strict=True):
            optimizer.zero_grad(set_to_none=True)
            for images, masks in halves:
                images, masks = runtime.prepare_batch(images), runtime.prepare_batch(masks)
                (loss_fn(model(images), masks) / 2).backward()
            optimizer.step()
    return model


@pytest.mark.slow
def test_two_processes_reach_the_weights_of_one_process_accumulating_the_same_global_batch():
    args = [*TINY, "--epochs", "2", "--augment", "none", "--seed", "3", "--lr", "0.005"]
    code, err = finish(seglab(*args, "--nproc", "2"))
    assert code == 0, err
    run = the_run()
    trained = load_checkpoint(run.checkpoint_path("last"))["model"]
    reference = one_process_accumulating(run.load_config())
    worst = max((trained[name] - parameter.detach()).abs().max().item()
                for name, parameter in reference.named_parameters())
    assert worst < 1e-5
    moved = max((trained[name] - build_model("unet", width=8).state_dict()[name]).abs().max().item()
                for name, _ in reference.named_parameters())
    assert moved > 1e-3  # it trained: the comparison is not between two untouched models


@pytest.mark.slow
def test_killing_one_rank_ends_the_other_and_keeps_a_loadable_last_checkpoint(tmp_path):
    marker = tmp_path / "rank1-paused"
    # 38 train images, 19 per process in batches of 4: 4 steps an epoch; rank 1 freezes in epoch 2's
    # first step, after last.pt of epoch 1
    env = {"SEGLAB_PAUSE_AT": "train-step", "SEGLAB_PAUSE_SKIP": "4", "SEGLAB_PAUSE_RANK": "1",
           "SEGLAB_PAUSE_MARKER": str(marker)}
    launcher = seglab(*TINY, "--epochs", "3", "--nproc", "2", env=env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert launcher.poll() is None and time.monotonic() < deadline, "rank 1 never reached its pause point"
        time.sleep(0.05)
    os.kill(int(marker.read_text().split()[0]), signal.SIGKILL)
    killed = time.monotonic()
    code, err = finish(launcher, timeout=60)
    assert time.monotonic() - killed < 30
    assert code != 0
    run = the_run()
    assert load_checkpoint(run.checkpoint_path("last"))["epoch"] == 1
    assert run.state() == "failed"
    assert run.read_status().message.startswith("another training process failed or was killed")


def worker_pids(launcher_pid: int) -> dict[int, int]:
    """rank -> pid of the processes torchrun started (its children, found through /proc)."""
    ranks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environment = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        rank = [item[5:] for item in environment if item.startswith(b"RANK=")]
        if parent == launcher_pid and rank:
            ranks[int(rank[0])] = int(entry.name)
    return ranks


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_no_process_leaves_before_rank_0_has_written_the_end_of_the_run(tmp_path):
    marker = tmp_path / "rank0-paused"
    # rank 0 freezes inside the write of its 'finished' status event (its 'running' one is skipped):
    # after the run's last collective, before its curves
    env = {"SEGLAB_PAUSE_AT": "event-write-status", "SEGLAB_PAUSE_SKIP": "1", "SEGLAB_PAUSE_RANK": "0",
           "SEGLAB_PAUSE_MARKER": str(marker)}
    launcher = seglab(*TINY, "--epochs", "1", "--nproc", "2", env=env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert launcher.poll() is None and time.monotonic() < deadline, "rank 0 never reached its pause point"
        time.sleep(0.05)
    assert '"state":"fin' in the_run().events_path.read_text().splitlines()[-1]  # the half-written line
    time.sleep(3)  # rank 1 ends in well under a second once it has nothing left to wait for
    assert sorted(worker_pids(launcher.pid)) == [0, 1]  # rank 1 still waits for rank 0
    os.kill(int(marker.read_text().split()[0]), signal.SIGKILL)
    code, _ = finish(launcher, timeout=60)
    assert code != 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_sigterm_to_one_rank_stops_both_with_one_last_checkpoint_and_resumes_under_one_process():
    epochs = 16  # the signal lands after the first, long before the last
    launcher = seglab(*TINY, "--epochs", str(epochs), "--nproc", "2")
    deadline = time.monotonic() + 120
    while not (list_runs(runs_root()) and any(isinstance(e, EpochEvent) for e in read_events(the_run().events_path))):
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[1]
        time.sleep(0.05)
    os.kill(worker_pids(launcher.pid)[1], signal.SIGTERM)
    code, err = finish(launcher, timeout=60)
    assert code != 0  # a stopped run is not a finished one, for torchrun as for `seglab train`
    run = the_run()
    events = read_events(run.events_path)
    assert [e.state for e in events if isinstance(e, StatusEvent)] == ["running", "stopped"]
    stopped_at = next(i for i, e in enumerate(events) if isinstance(e, StatusEvent) and e.state == "stopped")
    finished_epochs = [e.epoch for e in events if isinstance(e, EpochEvent)]
    assert finished_epochs == list(range(1, len(finished_epochs) + 1)) and len(finished_epochs) < epochs
    last_saves = [e for e in events if isinstance(e, CheckpointEvent) and Path(e.path).name == "last.pt"]
    message = events[stopped_at].message
    if message.startswith("stopped at epoch"):  # mid-epoch: one more last.pt, written once, by rank 0 alone
        assert len(last_saves) == len(finished_epochs) + 1
        assert events[stopped_at - 1] == last_saves[-1] and last_saves[-1].epoch == finished_epochs[-1]
    else:  # the signal came during validation: the epoch's own last.pt is the stop's
        assert message == f"stopped after epoch {finished_epochs[-1]}"
        assert len(last_saves) == len(finished_epochs)
    payload = load_checkpoint(run.checkpoint_path("last"))
    assert payload["epoch"] == finished_epochs[-1]

    code, err = finish(seglab("--resume", str(run.path)))  # one process now
    assert code == 0, err
    resumed = [e.epoch for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    assert resumed == list(range(1, epochs + 1))
    assert run.state() == "finished"
