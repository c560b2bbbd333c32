"""`seglab models` and the ResNet depths through the real command: the table, ImageNet weights from a local file
for resnet50_unet (and refused, in one line, where they do not fit), checkpoints that name their model, and
--compile falling back to eager for a Bottleneck encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import resnet50

from core.models import MODEL_NAMES
from core.runs.events import StatusEvent, read_events
from core.runs.folders import list_runs, runs_root
from core.training.checkpoints import load_checkpoint
from tests.tui.test_cli import seglab, the_error_line

FIXTURES = Path(__file__).parent.parent / "fixtures"
QUICK = ["--data", str(FIXTURES / "oxford-pet-tiny"), "--epochs", "1", "--image-size", "32", "--batch-size", "4",
         "--device", "cpu", "--workers", "0"]


def only_run():
    (run,) = list_runs(runs_root())
    return run


def test_models_lists_every_model_with_its_exact_parameter_count_and_weights_name(capsys):
    code, out, _ = seglab(capsys, "models")
    assert code == 0
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│") and line.split()[1] != "│"}
    assert set(rows) == set(MODEL_NAMES)
    assert "24,436,241" in rows["resnet34_unet"] and "15.6" in rows["resnet34_unet"]  # GFLOPs at 256 px
    assert "67,156,753" in rows["resnet152_unet"] and "download" in rows["resnet152_unet"]
    assert "pip: seglab[lite0]" in rows["efficientnet_lite0_unet"] and "3,218,138" in rows["lraspp_mobilenet_v3_large"]
    assert "31,037,633" in rows["unet"] and "weights" not in rows["unet"]


def test_resnet50_weights_start_a_resnet50_unet_run_and_the_same_file_is_refused_for_resnet34(capsys, tmp_path):
    weights = resnet50(weights=None).state_dict()
    weights_file = tmp_path / "resnet50.pth"
    torch.save(weights, weights_file)

    code, out, err = seglab(capsys, "train", "--model", "resnet50_unet", "--encoder-weights", str(weights_file),
                            "--lr", "1e-12", "--weight-decay", "0", *QUICK)
    assert code == 0, err
    trained = load_checkpoint(only_run().checkpoint_path("last"))["model"]
    for key, tensor in weights.items():  # one step at lr 1e-12 moves nothing; BatchNorm's running stats do move
        if not key.startswith("fc.") and "running_" not in key and "num_batches" not in key:
            assert torch.allclose(trained[f"encoder.{key}"], tensor, atol=1e-6), key

    code, _, err = seglab(capsys, "train", "--model", "resnet34_unet", "--encoder-weights", str(weights_file),
                          "--name", "wrong", *QUICK)
    assert code == 2
    assert the_error_line(err) == (f"seglab: error: encoder_weights: {weights_file}: holds resnet50 weights, but "
                                   "this encoder is a resnet34 ('layer1.0.conv1.weight' is (64, 64, 1, 1) in the "
                                   "file, (64, 64, 3, 3) in the model)")
    assert len(list_runs(runs_root())) == 1  # no folder for the refused run


def test_a_width_imagenet_weights_cannot_fit_is_refused_before_loading_them(capsys, tmp_path):
    code, _, err = seglab(capsys, "train", "--model", "resnet18_unet", "--encoder-weights", str(tmp_path / "x.pth"),
                          "--width", "32", *QUICK)
    assert code == 2
    assert "width: ImageNet encoder weights fit width 64 only (torchvision's ResNet stem), not 32" in \
        the_error_line(err)


def test_a_resnet50_unet_checkpoint_given_to_a_resnet34_unet_run_is_one_line(capsys):
    code, _, err = seglab(capsys, "train", "--model", "resnet50_unet", "--width", "8", "--name", "source", *QUICK)
    assert code == 0, err
    best = only_run().checkpoint_path("best")
    code, _, err = seglab(capsys, "train", "--model", "resnet34_unet", "--width", "8", "--init-from", str(best),
                          *QUICK)
    assert code == 2
    assert the_error_line(err) == (f"seglab: error: init_from: {best} holds a resnet50_unet of width 8; this run "
                                   "trains a resnet34_unet of width 8")


def test_compile_that_fails_falls_back_to_eager_for_a_bottleneck_encoder(capsys, monkeypatch):
    def no_backend(model, *args, **kwargs):
        raise RuntimeError("no inductor backend on this machine")

    monkeypatch.setattr(torch, "compile", no_backend)
    code, _, err = seglab(capsys, "train", "--model", "resnet101_unet", "--width", "8", "--compile", *QUICK)
    assert code == 0, err
    messages = [e.message for e in read_events(only_run().events_path) if isinstance(e, StatusEvent)]
    assert "torch.compile failed (no inductor backend on this machine); training without it" in messages
    assert messages[-1].startswith("finished")


@pytest.mark.parametrize("what", ["resnet42-weights", "resnet-weights"])
def test_download_names_every_weights_file_it_knows(capsys, what):
    code, _, err = seglab(capsys, "data", "download", what)
    assert code == 2
    assert the_error_line(err).startswith(f"seglab: error: what: {what!r} is neither oxford-pet nor MODEL-weights "
                                          "(MODEL one of resnet18_unet, resnet34_unet, ")
    assert "deeplabv3_resnet50, " in err and "efficientnet_lite0_unet" not in err  # pip brings those


def test_a_finished_run_from_scratch_on_few_images_is_told_about_pretrained_encoders(capsys):
    code, _, err = seglab(capsys, "train", *QUICK, "--width", "8")
    assert code == 0, err
    tip = [line for line in err.splitlines() if line.startswith("seglab: tip:")]
    assert len(tip) == 1 and tip[0].startswith("seglab: tip: 7 training images: an ImageNet-pretrained encoder")
    assert "--preset pretrained" in tip[0]
    # with weights, or on synthetic data, there is nothing to tell
    code, _, err = seglab(capsys, "train", *QUICK[2:], "--data", "synthetic", "--synthetic-count", "12", "--width", "8")
    assert code == 0 and "seglab: tip:" not in err
