"""UNet with a ResNet34 encoder whose parameter names match torchvision's `resnet34`, so local
ImageNet weights load into it, and a nearest-upsampling decoder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from core.errors import CheckpointError
from core.models.blocks import InterpUpBlock, pad_to_multiple

# BasicBlocks per stage, as in He et al. 2016 and torchvision's resnet34.
RESNET34_BLOCKS_PER_STAGE = (3, 4, 6, 3)
ENCODER_STAGE_WIDTH_MULTIPLIERS = (1, 2, 4, 8)
# Decoder block widths as fractions of `width`: 256-128-64-32-16 at width 64.
DECODER_WIDTH_FRACTIONS = (4, 2, 1, 0.5, 0.25)
# Below this a decoder block has too few channels to carry a mask edge at small widths.
MIN_DECODER_CHANNELS = 4


class ResNet34Encoder(nn.Module):
    """torchvision's ResNet34 minus avgpool/fc, returning the features at strides 2, 4, 8, 16, 32."""

    def __init__(self, in_channels: int = 3, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stage_channels = [width * m for m in ENCODER_STAGE_WIDTH_MULTIPLIERS]
        previous_channels = width
        for index, (channels, blocks, stride) in enumerate(
            zip(stage_channels, RESNET34_BLOCKS_PER_STAGE, (1, 2, 2, 2), strict=True), start=1
        ):
            setattr(self, f"layer{index}", _make_stage(previous_channels, channels, blocks, stride))
            previous_channels = channels
        # Channels of what forward returns, shallow to deep: stem, layer1..layer4.
        self.out_channels = (width, *stage_channels)
        self._init_like_torchvision()

    def _init_like_torchvision(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        features = [stem]
        x = self.maxpool(stem)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features


def _make_stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    """A stage of BasicBlocks laid out as torchvision's `ResNet._make_layer` (same key names)."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    layers = [BasicBlock(in_channels, out_channels, stride, downsample)]
    layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet34UNet(nn.Module):
    """ResNet34 encoder, 5 InterpUpBlocks (skips from layer3, layer2, layer1, the stem, then none),
    1x1 head. Returns logits of shape N x num_classes x H x W for any H, W."""

    # Five stride-2 steps in the encoder: inputs are padded to this multiple inside forward.
    size_multiple = 32

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1,
        width: int = 64,
        encoder_weights: str | Path | None = None,
    ):
        super().__init__()
        self.encoder = ResNet34Encoder(in_channels, width)
        if encoder_weights is not None:
            load_resnet34_encoder_weights(self.encoder, encoder_weights)

        decoder_channels = [max(MIN_DECODER_CHANNELS, int(width * f)) for f in DECODER_WIDTH_FRACTIONS]
        # Deepest feature is the decoder's input; the other four are its skips, deep to shallow,
        # and the last block has no skip (it goes from 1/2 back to full resolution).
        *skip_features, deepest_channels = self.encoder.out_channels
        skip_channels = [*reversed(skip_features), 0]
        input_channels = [deepest_channels, *decoder_channels[:-1]]
        self.decoder_blocks = nn.ModuleList(
            InterpUpBlock(cin, cskip, cout)
            for cin, cskip, cout in zip(input_channels, skip_channels, decoder_channels, strict=True)
        )
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, (height, width) = pad_to_multiple(images, self.size_multiple)
        *skips, x = self.encoder(x)
        for block in self.decoder_blocks:
            x = block(x, skips.pop() if skips else None)
        return self.head(x)[..., :height, :width]


def load_resnet34_encoder_weights(encoder: ResNet34Encoder, path: str | Path) -> None:
    """Load a local torchvision resnet34 state dict (fc.* ignored) into `encoder`, strictly.

    Raises CheckpointError naming the file when it is missing, unreadable, not a state
    dict, or its keys or shapes do not fit (ImageNet resnet34 weights need width 64).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: encoder weights file not found")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path}: not a readable torch weights file ({type(error).__name__})"
        ) from error
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors (expected torchvision resnet34 weights)")

    weights = {key: value for key, value in loaded.items() if not key.startswith("fc.")}
    expected = encoder.state_dict()
    missing = sorted(expected.keys() - weights.keys())
    unexpected = sorted(weights.keys() - expected.keys())
    if missing or unexpected:
        examples = ", ".join(f"'{key}'" for key in (missing[:1] + unexpected[:1]))
        raise CheckpointError(
            f"{path}: keys do not match a resnet34 encoder "
            f"({len(missing)} missing, {len(unexpected)} unexpected, e.g. {examples})"
        )
    wrong_shapes = [key for key in expected if expected[key].shape != weights[key].shape]
    if wrong_shapes:
        key = wrong_shapes[0]
        raise CheckpointError(
            f"{path}: {len(wrong_shapes)} tensors have the wrong shape, e.g. '{key}' is "
            f"{tuple(weights[key].shape)} but the model needs {tuple(expected[key].shape)} "
            "(resnet34 weights need width 64)"
        )
    encoder.load_state_dict(weights, strict=True)
