"""`seglab predict` on a folder: Ctrl-C in a real process leaves a results.csv of whole rows that the same command
completes into an uninterrupted run's, and --engine auto (the default) says which engine ran and why."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from PIL import Image

from core.inference import engine_choice
from core.inference.predict import predict
from core.runs.folders import Run, create_run, runs_root
from tests.core.test_predict_engine import make_run, timings  # noqa: F401 - the fixture, shared
from tests.core.test_predict_stream import save_random_checkpoint
from tests.tui.test_cli import seglab, seglab_process, the_error_line


def photo_folder(folder, count: int):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        width, height = (int(value) for value in rng.integers(24, 64, 2))
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / f"p{index:04d}.png")
    return folder


@pytest.mark.slow
def test_ctrl_c_then_the_same_command_gives_the_uninterrupted_results_csv(tmp_path):
    from core.config import TrainConfig

    run = create_run(TrainConfig(model="unet", data="synthetic", image_size=32, width=8, device="cpu",
                                 precision="fp32", name="sigint"), runs_root())
    save_random_checkpoint(run, seed=0)
    photos = photo_folder(tmp_path / "photos", 400)
    args = ["predict", run.name, "--input", str(photos), "--engine", "torch", "--batch-size", "4",
            "--device", "cpu"]
    results = run.predictions_dir / "files" / "results.csv"
    process = seglab_process(*args)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not results.is_file() or results.read_text().count("\n") < 3):
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "stopped: results.csv lists the images done" in out and "Traceback" not in err
    rows = results.read_text().splitlines()[1:]
    assert 2 <= len(rows) < 400
    assert all((run.predictions_dir / "files" / f"{row.split(',')[0]}_mask.png").is_file() for row in rows)

    again = seglab_process(*args)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"resuming predictions/files: {len(rows)} of 400 images already done" in err
    whole = predict(Run(run.path), inputs=[photos], output_name="whole", batch_size=4, device="cpu")
    assert whole["images"] == 400
    assert results.read_bytes() == (run.predictions_dir / "whole" / "results.csv").read_bytes()


def test_the_default_engine_is_auto_and_the_command_says_what_ran(capsys, timings, tmp_path):  # noqa: F811
    run = make_run("cli-auto")
    photos = photo_folder(tmp_path / "photos", 3)
    code, out, err = seglab(capsys, "predict", run.name, "--input", str(photos), "--device", "cpu")
    assert code == 0, err
    assert "engine: onnx (auto: 2.00x torch's rate on this machine, measured " in err
    assert f"3 images -> {run.predictions_dir / 'files'}" in out
    code, out, err = seglab(capsys, "predict", run.name, "--input", str(photos), "--engine", "torch")
    assert code == 0 and "engine:" not in err
    assert engine_choice.cache_path().is_file()


def test_an_input_folders_subfolders_are_read_with_recursive_and_named_without_it(capsys, tmp_path):
    from core.config import TrainConfig
    from core.models import build_model
    from core.training.checkpoints import save_checkpoint_atomically

    run = create_run(TrainConfig(model="unet", data="synthetic", task="multiclass", classes=3, loss="ce", image_size=32,
                                 width=8, device="cpu", precision="fp32", name="nested"), runs_root())
    save_checkpoint_atomically(run.checkpoint_path("best"), {"model": build_model("unet", num_classes=3, width=8)
                                                             .state_dict(), "epoch": 1,
                                                             "config": run.load_config().to_dict()})
    photos = photo_folder(tmp_path / "photos", 2)
    photo_folder(tmp_path / "photos" / "sub", 1)
    photo_folder(tmp_path / "photos" / ".thumbnails", 1)  # hidden: never read
    args = ["predict", run.name, "--input", str(photos), "--engine", "torch", "--device", "cpu"]
    code, out, err = seglab(capsys, *args)
    assert code == 0, err
    assert f"2 images -> {run.predictions_dir / 'files'}" in out
    assert f"1 subfolder of the input not searched (e.g. {photos / 'sub'}); --recursive reads it too" in err
    assert "in no image" not in out and "Dice" not in out  # no truth masks: no scores, not "in no image"
    code, out, err = seglab(capsys, *args, "--recursive", "--name", "all")
    assert code == 0, err
    assert f"3 images -> {run.predictions_dir / 'all'}" in out and "not searched" not in err
    assert (run.predictions_dir / "all" / "p0000-2_mask.png").is_file()  # sub/p0000.png, after photos/p0000.png
    (photos / "sub" / "loop").symlink_to(photos, target_is_directory=True)  # a link back up: followed once
    (tmp_path / "elsewhere").mkdir()
    (photos / "linked").symlink_to(photo_folder(tmp_path / "elsewhere" / "more", 1), target_is_directory=True)
    code, out, err = seglab(capsys, *args, "--recursive", "--name", "linked")
    assert code == 0, err
    assert f"4 images -> {run.predictions_dir / 'linked'}" in out  # 2 + sub's 1 + the linked folder's 1
    code, _, err = seglab(capsys, "predict", run.name, "--input", str(tmp_path / "elsewhere"), "--engine", "torch")
    assert code == 2 and the_error_line(err).endswith("in this folder (its subfolders: --recursive)")
