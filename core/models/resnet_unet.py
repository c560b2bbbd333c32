"""UNets with a ResNet encoder of depth 18, 34, 50, 101 or 152 whose parameter names and shapes match
torchvision's `resnetN`, so local ImageNet weights load into it unchanged, and a nearest-upsampling decoder whose
channels follow the encoder's."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from core.models import IMAGENET_WIDTH
from core.models.blocks import InterpUpBlock, pad_to_multiple

# Block type and blocks per stage of each depth, as in He et al. 2016 and torchvision's resnet18..resnet152.
RESNET_LAYOUTS: dict[int, tuple[type[BasicBlock | Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
ENCODER_STAGE_WIDTH_MULTIPLIERS = (1, 2, 4, 8)
# Decoder block widths as fractions of `width`: 256-128-64-32-16 at width 64, whatever the depth.
DECODER_WIDTH_FRACTIONS = (4, 2, 1, 0.5, 0.25)
# Below this a decoder block has too few channels to carry a mask edge at small widths.
MIN_DECODER_CHANNELS = 4


class ResNetEncoder(nn.Module):
    """torchvision's ResNet of `depth` minus avgpool/fc, returning the features at strides 2, 4, 8, 16, 32.

    `width` is the stem's channels (64 in torchvision); stage i has width * 2^i planes, times 4 (Bottleneck's
    expansion) at its output for depths 50 and up: 256-512-1024-2048 at width 64.
    """

    def __init__(self, depth: int = 34, in_channels: int = 3, width: int = IMAGENET_WIDTH):
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"ResNet depth {depth} is not one of {', '.join(map(str, RESNET_LAYOUTS))}")
        self.depth = depth
        block, blocks_per_stage = RESNET_LAYOUTS[depth]
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        previous_channels = width
        stage_channels = []
        for index, (multiplier, blocks, stride) in enumerate(
            zip(ENCODER_STAGE_WIDTH_MULTIPLIERS, blocks_per_stage, (1, 2, 2, 2), strict=True), start=1
        ):
            planes = width * multiplier
            setattr(self, f"layer{index}", _make_stage(block, previous_channels, planes, blocks, stride))
            previous_channels = planes * block.expansion
            stage_channels.append(previous_channels)
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


def _make_stage(block: type[BasicBlock | Bottleneck], in_channels: int, planes: int, blocks: int,
                stride: int) -> nn.Sequential:
    """A stage laid out as torchvision's `ResNet._make_layer` (same key names and shapes)."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    layers = [block(in_channels, planes, stride, downsample)]
    layers += [block(out_channels, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetUNet(nn.Module):
    """ResNet encoder, 5 InterpUpBlocks (skips from layer3, layer2, layer1, the stem, then none), 1x1 head.
    Returns logits of shape N x num_classes x H x W for any H, W. Subclasses fix the depth."""

    depth = 34
    # Five stride-2 steps in the encoder: inputs are padded to this multiple inside forward.
    size_multiple = 32

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1,
        width: int = IMAGENET_WIDTH,
        encoder_weights: str | None = None,
    ):
        super().__init__()
        self.encoder = ResNetEncoder(self.depth, in_channels, width)
        if encoder_weights is not None:
            from core.models.encoder_weights import load_encoder_weights

            load_encoder_weights(self.encoder, encoder_weights)

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


class ResNet18UNet(ResNetUNet):
    depth = 18


class ResNet34UNet(ResNetUNet):
    depth = 34


class ResNet50UNet(ResNetUNet):
    depth = 50


class ResNet101UNet(ResNetUNet):
    depth = 101


class ResNet152UNet(ResNetUNet):
    depth = 152
