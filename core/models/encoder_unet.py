"""A UNet around any encoder that returns features at strides 2, 4, 8, 16 and 32 and says their channels
(`out_channels`): five nearest-upsampling decoder blocks whose channels are fractions of `width` (skips from the
four shallower features, the last block none) and a 1x1 head. The ResNet and EfficientNet-Lite0 UNets are this."""

from __future__ import annotations

import torch
from torch import nn

from core.models.blocks import InterpUpBlock, pad_to_multiple

# Decoder block widths as fractions of `width`: 256-128-64-32-16 at width 64, whatever the encoder.
DECODER_WIDTH_FRACTIONS = (4, 2, 1, 0.5, 0.25)
# Below this a decoder block has too few channels to carry a mask edge at small widths.
MIN_DECODER_CHANNELS = 4


class EncoderUNet(nn.Module):
    """`encoder`'s features decoded back to the input's size; logits N x num_classes x H x W for any H, W."""

    # Five stride-2 steps in the encoder: inputs are padded to this multiple inside forward.
    size_multiple = 32

    def __init__(self, encoder: nn.Module, num_classes: int, width: int):
        super().__init__()
        self.encoder = encoder
        decoder_channels = [max(MIN_DECODER_CHANNELS, int(width * f)) for f in DECODER_WIDTH_FRACTIONS]
        # Deepest feature is the decoder's input; the other four are its skips, deep to shallow,
        # and the last block has no skip (it goes from 1/2 back to full resolution).
        *skip_features, deepest_channels = encoder.out_channels
        skip_channels = [*reversed(skip_features), 0]
        input_channels = [deepest_channels, *decoder_channels[:-1]]
        self.decoder_blocks = nn.ModuleList(
            InterpUpBlock(cin, cskip, cout)
            for cin, cskip, cout in zip(input_channels, skip_channels, decoder_channels, strict=True)
        )
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, kernel_size=1)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, (height, width) = pad_to_multiple(images, self.size_multiple)
        *skips, x = self.encode(x)
        for block in self.decoder_blocks:
            x = block(x, skips.pop() if skips else None)
        return self.head(x)[..., :height, :width]
