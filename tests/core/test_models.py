"""Every segmentation network: any-size forward/backward, sizes, gradients, determinism, encoders laid out as
torchvision's resnetN, and loading local torchvision weights into them (smp BaseModelTester style)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import resnet18, resnet34, resnet50

from core.errors import CheckpointError, ConfigError
from core.models import MODEL_NAMES, RESNET_DEPTHS, ResNet34UNet, build_model, count_parameters
from core.models.blocks import DoubleConv, conv_over_concat

from .helpers import every_model

TEST_WIDTH = 8
# Parameter counts at the default width 64 (the README quotes them). UNet matches the
# well-known 31.0M of Ronneberger's UNet with BatchNorm; resnet34's encoder is 21.28M of its total.
PARAMETERS_AT_WIDTH_64 = {"unet": 31_037_633, "resnet18_unet": 14_328_081, "resnet34_unet": 24_436_241,
                          "resnet50_unet": 32_520_977, "resnet101_unet": 51_513_105, "resnet152_unet": 67_156_753,
                          "efficientnet_lite0_unet": 5_198_033, "deeplabv3_resnet50": 39_633_729,
                          "deeplabv3_resnet101": 58_625_857, "deeplabv3_mobilenet_v3_large": 11_020_337,
                          "lraspp_mobilenet_v3_large": 3_218_138, "fcn_resnet50": 32_946_753}


@pytest.fixture(autouse=True)
def fixed_seed():
    torch.manual_seed(0)


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(module for module in model.modules() if isinstance(module, nn.Conv2d))


@pytest.mark.parametrize("name", every_model())
@pytest.mark.parametrize("height,width", [(75, 113), (257, 300), (33, 47)])
def test_output_has_input_size_and_backward_reaches_first_conv(name, height, width):
    model = build_model(name, width=TEST_WIDTH).train()
    images = torch.randn(2, 3, height, width)

    logits = model(images)
    logits.mean().backward()

    assert logits.shape == (2, 1, height, width)
    gradient = first_conv(model).weight.grad
    assert gradient is not None and gradient.abs().sum() > 0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_count_at_width_64_matches_the_documented_size(name):
    # On the meta device nothing is allocated or initialised, so the full-size models are free.
    with torch.device("meta"):
        model = build_model(name, width=64)
    # Exact: a bias or a channel too many changes the count by far less than any relative tolerance.
    assert count_parameters(model) == PARAMETERS_AT_WIDTH_64[name]
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"| `{name}` |" in readme and f"| {PARAMETERS_AT_WIDTH_64[name]:,} |" in readme


@pytest.mark.parametrize("name", every_model())
def test_eval_mode_forward_is_deterministic(name):
    model = build_model(name, width=TEST_WIDTH).eval()
    images = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.equal(model(images), model(images))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_conv_over_concat_equals_conv_of_the_concatenation_forward_and_backward(bias, memory_format):
    conv = nn.Conv2d(12, 5, kernel_size=3, padding=1, bias=bias)
    parts = [torch.randn(2, c, 9, 11).contiguous(memory_format=memory_format).requires_grad_() for c in (4, 8)]
    upstream = torch.randn(2, 5, 9, 11)

    expected = conv(torch.cat(parts, dim=1))
    expected_grads = torch.autograd.grad(expected, [*parts, conv.weight], upstream)
    joined = conv_over_concat(conv, parts)
    grads = torch.autograd.grad(joined, [*parts, conv.weight], upstream)

    assert torch.allclose(joined, expected, atol=1e-5)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        assert torch.allclose(grad, expected_grad, atol=1e-5)


def test_decoder_join_matches_a_concatenated_double_conv_in_bf16_channels_last():
    block = DoubleConv(24, 8).train().to(memory_format=torch.channels_last)
    x, skip = (torch.randn(4, c, 16, 16).contiguous(memory_format=torch.channels_last) for c in (16, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        joined = block.forward_concat([x, skip]).float()
        concatenated = block(torch.cat([x, skip], dim=1)).float()
    # bf16 rounds each sum differently; the two paths agree to bf16's ~3 significant digits.
    assert (joined - concatenated).abs().max() < 0.05 * concatenated.abs().max()


def test_conv_over_concat_rejects_parts_that_do_not_add_up_to_the_conv_input():
    conv = nn.Conv2d(12, 5, kernel_size=3, padding=1)
    with pytest.raises(ValueError, match=r"parts have \[4, 4\] channels, the conv takes 12"):
        conv_over_concat(conv, [torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)])


def test_unknown_model_name_error_lists_known_names():
    with pytest.raises(ConfigError) as caught:
        build_model("segformer")
    for name in MODEL_NAMES:
        assert name in str(caught.value)


def test_unet_rejects_encoder_weights():
    with pytest.raises(ConfigError, match="resnet34_unet"):
        build_model("unet", encoder_weights="resnet34.pth")


@pytest.mark.parametrize("depth", RESNET_DEPTHS)
def test_each_encoder_has_torchvisions_keys_and_shapes_minus_fc(depth):
    with torch.device("meta"):  # full size, nothing allocated
        encoder = build_model(f"resnet{depth}_unet", width=64).encoder.state_dict()
        reference = getattr(torchvision.models, f"resnet{depth}")().state_dict()
    expected = {key: tensor.shape for key, tensor in reference.items() if not key.startswith("fc.")}
    assert {key: tensor.shape for key, tensor in encoder.items()} == expected


def test_torchvision_resnet50_weights_load_into_its_encoder_and_are_refused_by_resnet34_naming_shapes(tmp_path):
    torchvision_weights = resnet50(weights=None).state_dict()
    weights_file = tmp_path / "resnet50.pth"
    torch.save(torchvision_weights, weights_file)

    model = build_model("resnet50_unet", width=64, encoder_weights=weights_file)
    for key, tensor in model.encoder.state_dict().items():
        assert torch.equal(tensor, torchvision_weights[key]), key

    with pytest.raises(CheckpointError) as caught:
        build_model("resnet34_unet", width=64, encoder_weights=weights_file)
    assert str(caught.value) == (f"{weights_file}: holds resnet50 weights, but this encoder is a resnet34 "
                                 "('layer1.0.conv1.weight' is (64, 64, 1, 1) in the file, (64, 64, 3, 3) in the model)")


def test_resnet18_weights_for_a_resnet34_encoder_name_both_block_layouts(tmp_path):
    weights_file = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), weights_file)
    with pytest.raises(CheckpointError) as caught:
        build_model("resnet34_unet", width=64, encoder_weights=weights_file)
    assert str(caught.value) == (f"{weights_file}: holds resnet18 weights, but this encoder is a resnet34 "
                                 "(blocks per stage: 2, 2, 2, 2 in the file, 3, 4, 6, 3 in the model)")


@pytest.mark.parametrize("depth", RESNET_DEPTHS)
def test_every_depth_trains_a_step_in_bf16_channels_last(depth):
    from core.device import resolve_runtime

    runtime = resolve_runtime("cpu", "bf16", "channels_last")
    model = runtime.prepare_model(build_model(f"resnet{depth}_unet", num_classes=3, width=TEST_WIDTH)).train()
    images = runtime.prepare_batch(torch.randn(2, 3, 48, 40))
    with runtime.autocast():
        logits = model(images)
    torch.nn.functional.cross_entropy(logits.float(), torch.randint(0, 3, (2, 48, 40))).backward()
    assert logits.shape == (2, 3, 48, 40) and logits.dtype == torch.bfloat16
    gradient = first_conv(model).weight.grad
    assert gradient is not None and torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def test_torchvision_resnet34_weights_load_into_encoder(tmp_path):
    torchvision_weights = resnet34(weights=None).state_dict()
    weights_file = tmp_path / "resnet34.pth"
    torch.save(torchvision_weights, weights_file)

    model = build_model("resnet34_unet", width=64, encoder_weights=weights_file)

    encoder_weights = model.encoder.state_dict()
    assert encoder_weights.keys() == {key for key in torchvision_weights if not key.startswith("fc.")}
    for key, tensor in encoder_weights.items():
        assert torch.equal(tensor, torchvision_weights[key]), key


def _write_tiny_dict(path):
    torch.save({"weight": torch.zeros(1)}, path)


def _write_width_8_encoder(path):
    torch.save(ResNet34UNet(width=TEST_WIDTH).encoder.state_dict(), path)


def _write_a_list(path):
    torch.save([torch.zeros(1)], path)


def _write_text(path):
    path.write_text("not a weights file\n")


@pytest.mark.parametrize(
    "write_bad_file", [_write_tiny_dict, _write_width_8_encoder, _write_a_list, _write_text, None]
)
def test_unusable_encoder_weights_file_raises_checkpoint_error_naming_it(tmp_path, write_bad_file):
    weights_file = tmp_path / "bad_resnet34.pth"
    if write_bad_file is not None:  # None: the file does not exist
        write_bad_file(weights_file)

    with pytest.raises(CheckpointError) as caught:
        ResNet34UNet(width=64, encoder_weights=weights_file)

    message = str(caught.value)
    assert str(weights_file) in message
    assert "\n" not in message
