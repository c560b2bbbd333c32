"""The `seglab` command: one-line errors with exit 2, help with examples, and train -> runs -> evaluate ->
predict -> watch on a tiny run, data synth/check/download, and Ctrl-C then --resume in a real process."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest
import torchvision.datasets

from core.run_data import cache_root, split_samples
from core.runs.folders import create_run, list_runs, runs_root
from core.training.checkpoints import load_checkpoint
from core.training.engine import train
from tests.core.test_predict import hand_counted_dice_iou
from tui.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY_TRAIN = ["--data", "synthetic", "--epochs", "1", "--width", "8", "--image-size", "32", "--synthetic-count",
              "12", "--synthetic-size", "32", "--batch-size", "4", "--device", "cpu"]


def seglab(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def the_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("seglab: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--lr", "-1"], ["lr", "positive"], id="lr"),
        pytest.param(["--batch-size", "0"], ["batch_size", "from 1 to 65,536", "got 0"], id="batch-size"),
        pytest.param(["--model", "nope"], ["model", "'nope'", "unet", "resnet34_unet"], id="model"),
        pytest.param(["--data", "/no/such/dir"], ["/no/such/dir", "no such dataset folder"], id="data"),
        pytest.param(["--epochs", "abc"], ["--epochs"], id="epochs"),
        pytest.param(["--bogus"], ["--bogus"], id="bogus"),
        pytest.param([*TINY_TRAIN, "--name", "../escape"], ["run name", "'..'"], id="name"),
        pytest.param([*TINY_TRAIN, "--notify", "notaurl"], ["notify", "'notaurl'", "http:// or https://"],
                     id="notify"),
    ],
)
def test_bad_train_options_exit_2_with_one_line_naming_the_option(capsys, args, expected):
    code, out, err = seglab(capsys, "train", *args)
    assert code == 2
    line = the_error_line(err)
    assert all(word in line for word in expected), line
    assert "Traceback" not in out + err
    assert list_runs(runs_root()) == []  # no half-made run folder


def test_a_bad_malloc_setting_exits_2_naming_the_variable_before_any_run_folder(capsys, monkeypatch):
    monkeypatch.setenv("SEGLAB_MALLOC", "jemalloc")
    code, _, err = seglab(capsys, "train", *TINY_TRAIN)
    assert code == 2
    assert the_error_line(err) == "seglab: error: SEGLAB_MALLOC='jemalloc' is not one of reuse, system"
    assert list_runs(runs_root()) == []


def test_a_bad_run_name_is_refused_before_any_data_is_generated(capsys):
    code, _, err = seglab(capsys, "train", "--name", "a/b", "--synthetic-count", "12", "--synthetic-size", "32")
    assert code == 2 and "run name" in the_error_line(err)
    assert not list(cache_root().glob("data/synthetic-*"))


@pytest.mark.parametrize("command", ["evaluate", "predict", "watch"])
def test_an_unknown_run_exits_2_with_one_line_naming_it(capsys, command):
    code, _, err = seglab(capsys, command, "20991231-nope")
    assert code == 2
    assert "20991231-nope" in the_error_line(err)


@pytest.mark.parametrize(
    "command",
    ["train", "evaluate", "predict", "runs", "watch", "demo", "data synth", "data check", "data download"],
)
def test_every_command_has_help_with_an_example(capsys, command):
    code, out, _ = seglab(capsys, *command.split(), "--help")
    assert code == 0
    assert "Example" in out
    assert "Usage" in out


@pytest.mark.parametrize("group", ["data"])
def test_a_command_group_without_its_command_shows_its_help_and_no_empty_error(capsys, group):
    code, out, err = seglab(capsys, group)
    assert code == 2 and "Commands" in out + err
    assert "seglab: error" not in err


def data_line(out: str, *words: str) -> str:
    matches = [line for line in out.splitlines() if all(word in line for word in words)]
    assert matches, f"no line with {words} in:\n{out}"
    return matches[0]


def test_train_then_runs_evaluate_predict_and_watch_the_run(capsys):
    # lr 2e-2: one epoch then gives a partly right mask (Dice about 0.5), which the Dice checks below need
    code, out, err = seglab(capsys, "train", *TINY_TRAIN, "--lr", "2e-2", "--name", "clitest")
    assert code == 0, err
    assert out.splitlines()[0].startswith("run folder: ")
    assert "\r" not in out + err and "\x1b" not in out + err  # not a terminal: no redraws, no colours
    data_line(out, "epoch", "1/1", "train loss", "val Dice")
    (run,) = list_runs(runs_root())
    assert out.splitlines()[0] == f"run folder: {run.path}"
    assert run.name.endswith("-unet-clitest") and run.state() == "finished"

    code, out, _ = seglab(capsys, "runs")
    assert code == 0
    data_line(out, "finished", "1/1")

    prefix = run.name[:15]  # the timestamp is enough when it is unique
    code, out, _ = seglab(capsys, "evaluate", prefix, "--device", "cpu")
    assert code == 0
    result = json.loads((run.path / "eval-test.json").read_text())
    assert result["images"] == 1 and 0 <= result["dice"] <= 1
    assert str(run.path / "eval-test.json") in out
    best = (run.path / "eval-test.json").read_bytes()
    code, out, _ = seglab(capsys, "evaluate", prefix, "--device", "cpu", "--checkpoint", "last")
    assert code == 0 and str(run.path / "eval-test-last.json") in out
    other = run.path.parent / "elsewhere.pt"  # another checkpoint file: scores of its own, never the best's file
    other.write_bytes(run.checkpoint_path("last").read_bytes())
    code, out, _ = seglab(capsys, "evaluate", prefix, "--device", "cpu", "--checkpoint", str(other))
    assert code == 0
    (written,) = run.path.glob("eval-test-file-*.json")
    assert json.loads(written.read_text())["checkpoint"] == str(other)
    assert (run.path / "eval-test.json").read_bytes() == best  # evaluating last.pt or a file replaced it

    code, out, _ = seglab(capsys, "predict", prefix, "--device", "cpu", "--engine", "torch")
    assert code == 0
    out_dir = run.predictions_dir / "test"
    assert len(list(out_dir.glob("*_overlay.png"))) == 1
    (sample,) = split_samples(run.load_config(), "test")
    with open(out_dir / "results.csv", newline="", encoding="utf-8") as f:
        (row,) = csv.DictReader(f)
    dice, iou = hand_counted_dice_iou(out_dir / f"{sample.name}_mask.png", sample.mask)
    assert 0 < dice < 1  # an empty or full mask would leave a miscount unseen
    assert (float(row["dice"]), float(row["iou"])) == pytest.approx((dice, iou), abs=1e-6)
    # The synthetic image is 32 x 32, the training size: evaluate (at training size) and predict (at the
    # image's own size) threshold the same logits, so they score it the same.
    assert (result["dice"], result["iou"]) == pytest.approx((dice, iou), abs=1e-6)
    assert str(out_dir) in out and f"mean Dice {dice:.4f}  mean IoU {iou:.4f}" in out

    code, out, _ = seglab(capsys, "watch", run.name)
    assert code == 0
    data_line(out, "epoch", "1/1", "val Dice")
    assert "state: finished" in out

    code, _, err = seglab(capsys, "train", "--resume", run.name, "--epochs", "3")
    assert code == 2
    line = the_error_line(err)
    assert "--resume" in line and "epochs" in line
    assert load_checkpoint(run.checkpoint_path("last"))["config"]["epochs"] == 1  # the run was left alone


def test_resuming_a_run_that_is_still_training_elsewhere_is_refused(capsys, tiny_config):
    config = tiny_config.replace(epochs=1)
    run = create_run(config, runs_root())
    train(config, run)
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.update_status(state="running", pid=trainer.pid, host=socket.gethostname())
        events_before = run.events_path.read_bytes()
        code, _, err = seglab(capsys, "train", "--resume", run.name)
        assert code == 2
        assert the_error_line(err).startswith(f"seglab: error: {run.path}: still running (process {trainer.pid} on "
                                              "this host); stop it first")
        assert run.events_path.read_bytes() == events_before
    finally:
        trainer.kill()
        trainer.wait()


def test_runs_shows_each_run_name_whole_at_80_columns(capsys, monkeypatch, tiny_config):
    monkeypatch.setenv("COLUMNS", "80")
    run = create_run(tiny_config.replace(name="clitest"), runs_root())
    run.update_status(state="finished", epoch=2, best_dice=0.5)
    code, out, _ = seglab(capsys, "runs")
    assert code == 0
    data_line(out, run.name, "finished", "2/2")


def test_data_synth_writes_the_pairs(capsys, tmp_path):
    code, out, _ = seglab(capsys, "data", "synth", "--out", str(tmp_path / "d"), "--count", "20", "--size", "32")
    assert code == 0
    assert "wrote 20 pairs" in out
    assert len(list((tmp_path / "d").glob("*/images/*.png"))) == 20
    assert len(list((tmp_path / "d").glob("*/masks/*.png"))) == 20


def test_data_check_counts_the_pairs_of_a_synthetic_set(capsys, tmp_path):
    seglab(capsys, "data", "synth", "--out", str(tmp_path / "d"), "--count", "20", "--size", "32")
    code, out, err = seglab(capsys, "data", "check", str(tmp_path / "d"))
    assert code == 0, err
    assert "20 pairs" in out and "ok: every pair opened" in out


def test_data_check_warns_about_a_mask_no_image_pairs_with(capsys, tmp_path):
    import shutil

    seglab(capsys, "data", "synth", "--out", str(tmp_path / "d"), "--count", "20", "--size", "32")
    masks = tmp_path / "d" / "train" / "masks"
    shutil.copy(masks / "synth_00001.png", masks / "orphan.png")  # its image renamed or deleted
    code, out, err = seglab(capsys, "data", "check", str(tmp_path / "d"))
    assert code == 0, err  # it reads, as before: the mask is only unused
    assert f"{masks / 'orphan.png'}: no image of that name in {masks.parent / 'images'}; not used" in out + err
    assert "synth_00001.png: no image" not in out + err


def test_data_check_counts_the_oxford_pet_fixture(capsys):
    code, out, err = seglab(capsys, "data", "check", str(FIXTURES / "oxford-pet-tiny"))
    assert code == 0, err
    assert "12 pairs (trainval 8, test 4)" in out


def test_data_check_names_a_broken_image_and_exits_1(capsys, tmp_path):
    seglab(capsys, "data", "synth", "--out", str(tmp_path / "d"), "--count", "20", "--size", "32")
    broken = tmp_path / "d" / "train" / "images" / "synth_00003.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    code, out, err = seglab(capsys, "data", "check", str(tmp_path / "d"))
    assert code == 1
    assert str(broken) in err
    assert "internal error" not in err and "Traceback" not in err


def test_a_failed_download_exits_non_zero_with_one_line_and_no_traceback(capsys, monkeypatch, tmp_path):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "OxfordIIITPet", unreachable)
    code, out, err = seglab(capsys, "data", "download", "oxford-pet", "--to", str(tmp_path / "d"))
    assert code != 0
    line = the_error_line(err)
    assert "cannot download" in line and "name resolution" in line and str(tmp_path / "d") in line
    assert "Traceback" not in out + err


def test_downloading_an_unknown_dataset_is_refused(capsys, tmp_path):
    code, _, err = seglab(capsys, "data", "download", "imagenet", "--to", str(tmp_path))
    assert code == 2
    assert "imagenet" in the_error_line(err)


def seglab_process(*args: str) -> subprocess.Popen:
    script = Path(sys.executable).with_name("seglab")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # see conftest: several threads crawl on a busy CPU
    return subprocess.Popen([*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_progress(timeout: float = 60.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for progress in runs_root().glob("*/progress.json"):
            return progress.parent
        time.sleep(0.05)
    raise AssertionError("training never reported progress")


@pytest.mark.slow
def test_ctrl_c_stops_training_gracefully_and_resume_finishes_it():
    train_args = [*TINY_TRAIN, "--epochs", "8", "--synthetic-count", "60", "--name", "sigint"]
    process = seglab_process("train", *train_args)
    try:
        run_path = wait_for_progress()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert out.startswith(f"run folder: {run_path}")
    assert "stopping after this step" in err and "Traceback" not in err
    (run,) = list_runs(runs_root())
    assert run.state() == "stopped"
    assert run.read_status().message.startswith("stopped")
    stopped_at = load_checkpoint(run.checkpoint_path("last"))
    assert stopped_at["epoch"] < 8

    resumed = seglab_process("train", "--resume", run.name)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert run.state() == "finished" and run.read_status().epoch == 8
    assert load_checkpoint(run.checkpoint_path("last"))["epoch"] == 8
    assert "finished: 8/8 epochs" in out


def test_output_read_by_a_reader_that_goes_away_stops_the_run_resumably_instead_of_failing_it():
    """`seglab train | head -2`: rich's SystemExit(1) on the broken pipe failed the run with the message "1"."""
    process = seglab_process("train", *TINY_TRAIN, "--epochs", "20", "--name", "piped")
    try:
        assert process.stdout.readline().startswith("run folder: ")
        process.stdout.close()  # as `head -1` exits
        err = process.stderr.read()
        process.wait(timeout=120)
    finally:
        process.kill()
    (run,) = list_runs(runs_root())
    assert process.returncode == 130 and "Traceback" not in err
    assert f"seglab: output closed: stopping after this step; continue with `seglab train --resume {run.name}`" in err
    status = run.read_status()
    assert status.state == "stopped" and status.message.startswith("stopped") and status.epoch < 20
    assert run.checkpoint_path("last").is_file()


@pytest.mark.slow
def test_the_readme_demo_reaches_dice_090_and_writes_overlays(capsys):
    """The README's first command, headless as in CI: val Dice >= 0.90 and overlay PNGs in the run."""
    code, out, err = seglab(capsys, "demo", "--headless")
    assert code == 0, err
    (run,) = list_runs(runs_root())
    assert run.state() == "finished"
    assert run.read_status().best_dice >= 0.90
    overlays = list((run.predictions_dir / "test").glob("*_overlay.png"))
    assert len(overlays) == 30
    assert f"overlays: {run.predictions_dir / 'test'}" in out


def test_data_synth_into_a_file_is_one_line(capsys, tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("not a folder")
    code, _, err = seglab(capsys, "data", "synth", "--out", str(taken), "--count", "20", "--size", "32")
    assert code == 2
    assert the_error_line(err) == f"seglab: error: {taken}: is a file; the synthetic set is written to a folder"


def test_a_run_failing_on_a_bad_mask_says_why_once_and_is_marked_failed(capsys, tmp_path):
    """The reason was printed twice: as the view's `[failed] ...` line, then as the error line."""
    from PIL import Image

    for folder in ("images", "masks"):
        (tmp_path / "pets" / folder).mkdir(parents=True)
    for index in range(6):
        Image.new("RGB", (40, 40), (index * 40, 90, 30)).save(tmp_path / "pets" / "images" / f"p{index}.png")
        Image.new("L", (30, 30) if index == 3 else (40, 40), 255).save(tmp_path / "pets" / "masks" / f"p{index}.png")
    code, out, err = seglab(capsys, "train", "--data", str(tmp_path / "pets"), "--epochs", "1", "--width", "8",
                            "--image-size", "32", "--batch-size", "2", "--workers", "0", "--device", "cpu")
    assert code == 2
    reason = f"{tmp_path / 'pets' / 'masks' / 'p3.png'}: image is 40x40 but mask is 30x30"
    assert (out + err).count(reason) == 1, out + err
    assert the_error_line(err).startswith(f"seglab: error: {reason}")
    (run,) = list_runs(runs_root())
    assert run.state() == "failed" and reason in run.read_status().message
