"""A local weights file for an encoder or backbone: every refusal is one line naming the file and what it should
hold, for EfficientNet-Lite0's loader and torchvision's backbones alike."""

from __future__ import annotations

import pytest
import torch

from core.errors import CheckpointError
from core.models import build_model
from core.models.efficientnet_lite import EfficientNetLite0, load_lite0_weights


@pytest.fixture
def files(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    return tmp_path


@pytest.mark.parametrize(("name", "message"), [
    ("missing.pt", "missing.pt: encoder weights file not found"),
    ("garbage.pt", "garbage.pt: not a readable torch weights file (UnpicklingError)"),
    ("list.pt", "list.pt: not a state dict (expected EfficientNet-Lite0's)"),
])
def test_lite0_weights_files_that_cannot_be_used(files, name, message):
    with pytest.raises(CheckpointError) as raised:
        load_lite0_weights(EfficientNetLite0(), files / name)
    assert str(raised.value) == f"{files}/{message}"


def test_a_torchvision_backbone_names_the_weights_it_expected(files):
    model = build_model("lraspp_mobilenet_v3_large", num_classes=1)
    with pytest.raises(CheckpointError) as raised:
        model.load_encoder_weights(files / "list.pt")
    assert str(raised.value) == f"{files}/list.pt: not a state dict (expected torchvision mobilenet_v3_large weights)"
