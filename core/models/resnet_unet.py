"""UNets with a ResNet encoder of depth 18, 34, 50, 101 or 152 (core/models/resnet_encoder.py, torchvision's
layout) and a nearest-upsampling decoder whose channels follow the encoder's."""

from __future__ import annotations

import torch
from torch import nn

from core.models import IMAGENET_WIDTH
from core.models.blocks import InterpUpBlock, pad_to_multiple
from core.models.resnet_encoder import ResNetEncoder

# Decoder block widths as fractions of `width`: 256-128-64-32-16 at width 64, whatever the depth.
DECODER_WIDTH_FRACTIONS = (4, 2, 1, 0.5, 0.25)
# Below this a decoder block has too few channels to carry a mask edge at small widths.
MIN_DECODER_CHANNELS = 4


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
