"""The recipe from the command line: --preset with overrides, starting weights refused in one line before a
run folder exists, ImageNet encoder weights from a local file, and --tta on evaluate and predict."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torchvision

from core.config import PRESETS, TrainConfig
from core.data.images import load_pair
from core.data.transforms import normalize, resize_pair
from core.device import resolve_runtime
from core.run_data import split_samples
from core.runs.folders import create_run, list_runs, runs_root
from core.training.checkpoints import model_from_checkpoint
from core.training.engine import train
from tests.tui.test_cli import seglab, the_error_line

TINY = ["--data", "synthetic", "--epochs", "1", "--image-size", "32", "--synthetic-count", "24",
        "--synthetic-size", "32", "--batch-size", "4", "--device", "cpu", "--workers", "0"]


def saved_config(run) -> dict:
    values = json.loads(run.config_path.read_text())
    values.pop("seglab_version"), values.pop("runtime")
    return values


def test_a_preset_expands_in_full_into_config_json_with_the_options_given_beside_it(capsys):
    code, out, err = seglab(capsys, "train", "--preset", "small-data", "--width", "8", *TINY)
    assert code == 0, err
    (run,) = list_runs(runs_root())
    expected = PRESETS["small-data"].replace(width=8, data="synthetic", epochs=1, image_size=32, synthetic_count=24,
                                             synthetic_size=32, batch_size=4, device="cpu", workers=0)
    assert saved_config(run) == expected.to_dict()
    assert saved_config(run)["augment"] == "standard" and saved_config(run)["preset"] == "small-data"
    # a long preset says how long it should take before it starts, and how to cap it
    assert re.search(r"^seglab: expected about \d+ s on this CPU \(1 epoch of (about \d+ s|under a second)\); "
                     r"use --time-budget "
                     r"MINUTES to cap it$", err, re.MULTILINE), err


def test_train_estimate_prints_the_expected_duration_and_creates_nothing(capsys):
    code, out, err = seglab(capsys, "train", "--estimate", "--width", "8", *TINY[:-4], "--epochs", "3")
    assert code == 0, err
    assert re.fullmatch(r"expected: about \d+ s on this CPU \(3 epochs of (about \d+ s|under a second)\)\n", out), out
    assert list_runs(runs_root()) == []
    code, out, err = seglab(capsys, "train", "--estimate", "--width", "8", *TINY, "--time-budget", "2")
    assert code == 0 and out.startswith("expected: about 2 min on this CPU (the time budget: about "), out
    code, out, err = seglab(capsys, "train", "--estimate", "--resume", "nothing")
    assert code == 2 and the_error_line(err) == ("seglab: error: --estimate applies to a new run's options, not "
                                                 "to --resume or --run-dir")


def test_an_unknown_preset_is_one_line_listing_the_presets(capsys):
    code, _, err = seglab(capsys, "train", "--preset", "fast", *TINY)
    assert code == 2
    assert the_error_line(err) == "seglab: error: preset: 'fast' is not one of paper, small-data, pretrained, demo"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--model", "resnet34_unet", "--width", "64", "--encoder-weights", "/no/such/resnet34.pth"],
                     "seglab: error: encoder_weights: /no/such/resnet34.pth: encoder weights file not found",
                     id="missing-encoder-file"),
        pytest.param(["--model", "unet", "--width", "8", "--encoder-weights", "/no/such/resnet34.pth"],
                     "seglab: error: encoder_weights: apply to resnet18_unet, resnet34_unet, resnet50_unet, "
                     "resnet101_unet, resnet152_unet, efficientnet_lite0_unet, deeplabv3_resnet50, "
                     "deeplabv3_resnet101, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large, fcn_resnet50 only, "
                     "not unet",
                     id="encoder-on-unet"),
        pytest.param(["--width", "8", "--init-from", "nosuchrun"],
                     "seglab: error: nosuchrun: no run folder, run name starting with it or run named so in ",
                     id="unknown-run"),
    ],
)
def test_bad_starting_weights_are_refused_in_one_line_before_a_run_folder_exists(capsys, args, expected):
    code, _, err = seglab(capsys, "train", *TINY, *args)
    assert code == 2
    assert the_error_line(err).startswith(expected)
    assert list_runs(runs_root()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has the GPU asked for")
def test_a_device_this_machine_lacks_is_refused_before_a_run_folder_exists(capsys):
    """It made a run folder, then failed in it: a 'failed 0/1' row in `seglab runs` for every try."""
    code, _, err = seglab(capsys, "train", *TINY, "--device", "cuda")
    assert code == 2
    assert the_error_line(err) == "seglab: error: device: cuda was asked for but torch sees no CUDA GPU"
    assert list_runs(runs_root()) == []


def test_encoder_weights_for_a_narrower_network_are_refused_naming_the_width(capsys, tmp_path):
    weights = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), weights)  # ImageNet layout, width 64
    code, _, err = seglab(capsys, "train", *TINY, "--model", "resnet34_unet", "--width", "8",
                          "--encoder-weights", str(weights))
    assert code == 2
    assert the_error_line(err) == ("seglab: error: width: ImageNet encoder weights fit width 64 only (torchvision's "
                                   "ResNet stem), not 8; leave --width out with --encoder-weights")
    assert list_runs(runs_root()) == []


@pytest.mark.slow
def test_imagenet_encoder_weights_from_a_local_file_start_the_encoder(capsys, tmp_path):
    reference = torchvision.models.resnet34(weights=None)
    weights = tmp_path / "resnet34-imagenet.pth"
    torch.save(reference.state_dict(), weights)
    code, _, err = seglab(capsys, "train", *TINY, "--model", "resnet34_unet", "--width", "64", "--lr", "1e-12",
                          "--encoder-weights", str(weights))
    assert code == 0, err
    (run,) = list_runs(runs_root())
    trained = torch.load(run.checkpoint_path("last"), weights_only=True)["model"]
    for name, value in reference.state_dict().items():
        if name.startswith("fc.") or "running" in name or "num_batches" in name:
            continue  # the classifier is not part of the encoder; BatchNorm statistics move in training
        assert torch.allclose(trained[f"encoder.{name}"], value, atol=1e-6), name


def scores_by_hand(run, flip: bool) -> dict[str, float]:
    """The run's best checkpoint on its test split, scored without core.models.tta or core.metrics: with `flip`, the
    mean of sigmoid(model(image)) and sigmoid(model(mirrored image)) mirrored back, thresholded at 0.5; the
    Dice and IoU per image (averaged) and over all pixels (micro) counted with numpy."""
    model, config, _ = model_from_checkpoint(run.checkpoint_path("best"))
    runtime = resolve_runtime("cpu", config.precision, config.memory_format)  # evaluate's device and layout
    model = runtime.prepare_model(model)
    pairs = [resize_pair(*load_pair(sample), config.image_size) for sample in split_samples(config, "test")]
    images = runtime.prepare_batch(normalize(torch.stack([image for image, _ in pairs])))
    with torch.no_grad():
        probabilities = torch.sigmoid(model(images).float())
        if flip:
            probabilities = (probabilities + torch.sigmoid(model(images.flip(-1)).float()).flip(-1)) / 2
    predicted = probabilities[:, 0].numpy() > 0.5
    truth = torch.stack([mask for _, mask in pairs])[:, 0].numpy() > 0
    tp = (predicted & truth).sum(axis=(1, 2))
    fp = (predicted & ~truth).sum(axis=(1, 2))
    fn = (~predicted & truth).sum(axis=(1, 2))
    assert (tp + fp + fn > 0).all()  # no both-empty image, so no 0/0 below
    return {"dice": float(np.mean(2 * tp / (2 * tp + fp + fn))), "iou": float(np.mean(tp / (tp + fp + fn))),
            "dice_micro": float(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())),
            "iou_micro": float(tp.sum() / (tp.sum() + fp.sum() + fn.sum()))}


def test_tta_flip_on_evaluate_and_predict_scores_the_mean_of_image_and_mirror_probabilities(capsys, tiny_config):
    # fp32 so the hand computation is the same arithmetic as evaluate's; lr 2e-2 so the masks are partly right
    # and mirroring changes some pixels (otherwise scores with and without TTA would be the same).
    config = tiny_config.replace(precision="fp32", lr=2e-2)
    run = create_run(config, runs_root())
    train(config, run)
    with_flip, without = scores_by_hand(run, flip=True), scores_by_hand(run, flip=False)
    assert abs(with_flip["dice"] - without["dice"]) > 1e-3, "TTA changes nothing here: the test would prove nothing"

    code, out, err = seglab(capsys, "evaluate", str(run.path), "--tta", "flip")
    assert code == 0, err
    result = json.loads((run.path / "eval-test-tta-flip.json").read_text())
    assert result["tta"] == "flip" and result["images"] == 2
    assert "test-time augmentation: flip" in out
    for metric, value in with_flip.items():
        assert result[metric] == pytest.approx(value, abs=1e-4), metric

    code, out, err = seglab(capsys, "predict", str(run.path), "--tta", "flip", "--name", "tta")
    assert code == 0, err
    summary = json.loads((run.predictions_dir / "tta" / "summary.json").read_text())
    assert summary["tta"] == "flip"
    # The synthetic images are 32 x 32, the training size, so predict (at their own size) scores the same pixels.
    assert (summary["mean_dice"], summary["mean_iou"]) == pytest.approx(
        (with_flip["dice"], with_flip["iou"]), abs=1e-4)

    code, _, err = seglab(capsys, "evaluate", str(run.path), "--tta", "rotate")
    assert code == 2 and the_error_line(err) == "seglab: error: tta: 'rotate' is not one of none, flip"


def test_the_demo_config_is_the_demo_preset():
    assert PRESETS["demo"].replace(preset="") == TrainConfig(
        model="unet", data="synthetic", epochs=6, batch_size=8, lr=2e-3, image_size=64, width=8, scheduler="cosine",
        warmup_epochs=1, name="demo", synthetic_count=300, synthetic_size=128)


def test_train_with_a_time_budget_trains_the_planned_epochs_and_records_the_plan(capsys):
    code, out, err = seglab(capsys, "train", "--width", "8", *TINY, "--time-budget", "0.05")  # 3 s
    assert code == 0, err
    (run,) = list_runs(runs_root())
    recorded = json.loads(run.config_path.read_text())
    planned = recorded["time_budget_plan"]["epochs"]
    assert recorded["time_budget"] == 0.05 and recorded["epochs"] == planned == run.read_status().epoch
    assert f"finished: {planned}/{planned} epochs" in out
    assert "started epoch 1 of a 0.05-minute time budget" in out
