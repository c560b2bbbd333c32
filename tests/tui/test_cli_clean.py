"""`seglab clean` and `seglab runs --disk`'s table: the plan is printed first, removal waits for y or --yes (never
asked on a non-terminal input), --dry-run removes nothing, and a real training run paused mid-epoch keeps every
file while the finished run beside it is cleaned."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from core.config import TrainConfig
from core.runs.folders import Run, create_run, list_runs, runs_root
from core.runs.status import State
from tui.cli import main
from tui.cli.disk_view import show_disk_usage
from tui.cli.options import console

OLD = 3600.0  # seconds: older than anything clean treats as in use


def seglab(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def finished_run(name: str, files: dict[str, int], state: str = State.FINISHED) -> Run:
    config = TrainConfig(model="unet", data="synthetic", width=8, image_size=32, name=name)
    run = create_run(config, runs_root())
    run.update_status(state=state, host=socket.gethostname())
    when = time.time() - OLD
    for relative, nbytes in files.items():
        path = run.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * nbytes)
    for path in [*run.path.rglob("*"), run.path]:
        os.utime(path, (when, when))
    return run


CHECKPOINTS = {"checkpoints/last.pt": 2_500_000, "checkpoints/best.pt": 2_000_000,
               "predictions/test/a_overlay.png": 300_000}


class Terminal(io.StringIO):
    """Standard input typed at a terminal."""

    def isatty(self) -> bool:
        return True


def test_dry_run_prints_the_plan_and_removes_nothing(capsys):
    run = finished_run("pets", CHECKPOINTS)

    code, out, _ = seglab(capsys, "clean", "--dry-run")

    assert code == 0
    assert run.name in out and "last.pt" in out and "2.5 MB" in out and "1 file," in out
    assert "dry run: nothing removed" in out
    assert "predictions and best.pt kept" in out
    assert run.checkpoint_path("last").exists()


def test_without_a_terminal_clean_refuses_unless_yes(capsys, monkeypatch):
    run = finished_run("pets", CHECKPOINTS)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))

    code, out, err = seglab(capsys, "clean")

    assert code == 2
    assert run.name in out  # the plan came first
    (line,) = err.strip().splitlines()
    assert line.startswith("seglab: error: not removing 1 file (2.5 MB) unasked") and "pass --yes" in line
    assert run.checkpoint_path("last").exists()

    code, out, _ = seglab(capsys, "clean", "--yes")
    assert code == 0 and "removed 1 file (2.5 MB)" in out
    assert not run.checkpoint_path("last").exists() and run.checkpoint_path("best").exists()


@pytest.mark.parametrize(("answer", "removed"), [("y\n", True), ("\n", False), ("no\n", False)])
def test_clean_asks_before_removing(capsys, monkeypatch, answer, removed):
    run = finished_run("pets", CHECKPOINTS)
    monkeypatch.setattr(sys, "stdin", Terminal(answer))

    code, out, _ = seglab(capsys, "clean", "pets")

    assert code == 0
    assert "remove 3 files (4.8 MB)? [y/N]" in out
    assert all(path.exists() != removed for path in (run.checkpoint_path("last"), run.checkpoint_path("best"),
                                                     run.predictions_dir / "test"))
    assert ("nothing removed" in out) != removed


def test_keep_best_on_the_command_line_keeps_best_pt(capsys):
    run = finished_run("pets", CHECKPOINTS)

    code, out, _ = seglab(capsys, "clean", "pets", "--keep-best", "--yes")

    assert code == 0 and "removed 2 files (2.8 MB)" in out
    assert run.checkpoint_path("best").exists() and not run.checkpoint_path("last").exists()


def test_a_named_live_run_is_reported_as_skipped(capsys, sleeper):
    live = finished_run("live", CHECKPOINTS)
    live.update_status(state=State.RUNNING, pid=sleeper.pid, host=socket.gethostname())

    code, out, _ = seglab(capsys, "clean", "live", "--yes")

    assert code == 0
    assert "nothing to remove" in out
    assert f"skipped {live.name}: running (pid {sleeper.pid} on {socket.gethostname()})" in out
    assert live.checkpoint_path("last").exists() and live.checkpoint_path("best").exists()


def test_bad_input_is_one_line(capsys):
    finished_run("pets", CHECKPOINTS)
    for args, words in ((["nosuchrun"], "nosuchrun: no run folder"), (["--older-than", "-1"], "--older-than")):
        code, _, err = seglab(capsys, "clean", *args)
        assert code == 2
        (line,) = err.strip().splitlines()
        assert line.startswith("seglab: error:") and words in line


def test_the_disk_table_lists_runs_largest_first_with_totals(capsys):
    small = finished_run("small", {"checkpoints/best.pt": 1_000_000})
    large = finished_run("large", {"checkpoints/best.pt": 1_000_000, "predictions/test/a.png": 4_000_000,
                                   "export/best-dynamic.onnx": 2_000_000})

    usages = show_disk_usage([small.path, large.path], runs_root())
    out = capsys.readouterr().out

    assert [usage.name for usage in usages] == [large.name, small.name]
    assert out.index(large.name) < out.index(small.name)
    total = usages[0].total + usages[1].total
    assert f"2 runs in {runs_root()}: {total / 1e6:.1f} MB" in out
    (total_row,) = [line for line in out.splitlines() if line.startswith("│ total ")]
    cells = [cell.strip() for cell in total_row.split("│")[1:-1]]
    assert cells[:2] == ["total", "2.0 MB"] and cells[-1] == f"{total / 1e6:.1f} MB"  # both runs' checkpoints
    assert max(len(line) for line in out.splitlines()) <= console.width  # columns give way, names stay whole


# Training as in the crash-safety tests: 20 train images, batch 4, so five steps an epoch; step 8 is mid epoch 2,
# after epoch 1 wrote best.pt and last.pt.
TRAIN_ARGS = ["--data", "synthetic", "--epochs", "3", "--batch-size", "4", "--image-size", "32", "--width", "8",
              "--synthetic-count", "24", "--synthetic-size", "32", "--device", "cpu", "--workers", "0",
              "--name", "live"]


@pytest.mark.slow
def test_clean_leaves_a_training_run_paused_mid_epoch_whole(capsys, tmp_path):
    finished = finished_run("done", CHECKPOINTS)
    marker = tmp_path / "paused"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEGLAB_PAUSE_AT": "train-step", "SEGLAB_PAUSE_SKIP": "7",
           "SEGLAB_PAUSE_MARKER": str(marker)}
    child = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *TRAIN_ARGS], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the training never reached its pause point"
            time.sleep(0.05)
        (live,) = [run for run in list_runs(runs_root()) if run.name.endswith("-live")]
        assert live.checkpoint_path("last").exists() and live.checkpoint_path("best").exists()
        (live.predictions_dir / "val").mkdir(parents=True)
        (live.predictions_dir / "val" / "a.png").write_bytes(b"x" * 100)
        when = time.time() - OLD
        for path in [*live.path.rglob("*"), live.path]:  # as old as can be: only its being live protects it
            os.utime(path, (when, when))
        before = {path: path.stat().st_size for path in live.path.rglob("*")}

        code, out, _ = seglab(capsys, "clean", "--older-than", "0", "--yes")
        code_named, out_named, _ = seglab(capsys, "clean", "live", "--yes")

        assert code == 0 and code_named == 0
        assert {path: path.stat().st_size for path in live.path.rglob("*")} == before
        assert f"skipped {live.name}: running (pid {child.pid}" in out
        assert f"skipped {live.name}: running (pid {child.pid}" in out_named
        assert not finished.checkpoint_path("last").exists() and not finished.checkpoint_path("best").exists()
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
