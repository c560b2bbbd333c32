"""Every registered model, binary and 3-class: a training step in fp32 and in bf16 + channels_last moves the weights
with a finite loss, the logits keep the input's size at 75x113 and 257x300, and an ONNX export (dynamic size)
matches PyTorch's probabilities within 1e-4. The heavy models' tests are slow ones (`.ci/run` runs them)."""

from __future__ import annotations

import math

import pytest
import torch

from core.device import resolve_runtime
from core.losses import build_loss
from core.models import MODEL_NAMES, build_model
from core.training.loops import optimizer_step

from .helpers import every_model

WIDTH = 8
CLASSES = [pytest.param(1, id="binary"), pytest.param(3, id="3-class")]


def batch(classes: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, size, size, generator=generator)
    if classes == 1:
        return images, (torch.rand(2, 1, size, size, generator=generator) > 0.5).float()
    return images, torch.randint(0, classes, (2, size, size), generator=generator)


@pytest.mark.parametrize("classes", CLASSES)
@pytest.mark.parametrize("name", every_model())
def test_a_training_step_in_fp32_and_bf16_channels_last_moves_the_weights(name, classes):
    for precision, memory_format in (("fp32", "contiguous"), ("bf16", "channels_last")):
        runtime = resolve_runtime("cpu", precision, memory_format)
        torch.manual_seed(0)
        model = runtime.prepare_model(build_model(name, num_classes=classes, width=WIDTH)).train()
        before = [parameter.detach().clone() for parameter in model.parameters()]
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss_fn = build_loss("bce" if classes == 1 else "ce", "binary" if classes == 1 else "multiclass")
        images, masks = (runtime.prepare_batch(tensor) for tensor in batch(classes))
        loss = optimizer_step(model, images, masks, loss_fn, optimizer, runtime.grad_scaler(), runtime)
        moved = sum(bool((p.detach() != b).any()) for p, b in zip(model.parameters(), before, strict=True))
        assert math.isfinite(loss) and moved > len(before) // 2, (precision, loss, moved)


@pytest.mark.parametrize("size", [(75, 113), (257, 300)])
@pytest.mark.parametrize("name", every_model())
def test_the_logits_keep_the_inputs_size(name, size):
    model = build_model(name, num_classes=3, width=WIDTH).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, *size))
    assert logits.shape == (1, 3, *size)


# Deeper copies of exported layer types (ResNet101/152 UNets and DeepLabV3-ResNet101 add Bottleneck blocks to what
# resnet50_unet and deeplabv3_resnet50 export): left out of the export test, which takes 20-60 s a model.
SAME_LAYERS_DEEPER = {"resnet101_unet", "resnet152_unet", "deeplabv3_resnet101"}


# The binary export of the models the binary default trains, and the 3-class export of every architecture: a
# binary head is the same layers with one output channel, and each export takes 8-20 s on 2 cores.
BINARY_EXPORTED = {"unet", "resnet34_unet"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in MODEL_NAMES if name not in SAME_LAYERS_DEEPER])
def test_an_onnx_export_matches_pytorch_within_1e_4_binary_and_3_class(tmp_path, name):
    from core.inference.export import _export_onnx, load_exported

    for classes in ((1, 3) if name in BINARY_EXPORTED else (3,)):
        torch.manual_seed(0)
        model = build_model(name, num_classes=classes, width=WIDTH).eval()
        path = tmp_path / f"{name}-{classes}.onnx"
        _export_onnx(model, torch.zeros(1, 3, 64, 64), path, dynamic=True)
        exported = load_exported(path, "onnx")
        for shape in ((2, 3, 64, 64), (1, 3, 61, 67)):  # the export size, and one the model must pad
            images = torch.randn(*shape)
            probabilities = torch.sigmoid if classes == 1 else (lambda logits: torch.softmax(logits, 1))
            with torch.no_grad():
                expected = probabilities(model(images))
            got = probabilities(exported(images))
            assert got.shape == expected.shape and (got - expected).abs().max() <= 1e-4, (classes, shape)
