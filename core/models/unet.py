"""UNet (Ronneberger et al. 2015) with same-padding convs and BatchNorm, for any input size."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from core.models.blocks import DoubleConv, TransposedUpBlock, pad_to_multiple

# Stage widths as multiples of `width`: 64-128-256-512-1024 at the paper's width 64.
STAGE_WIDTH_MULTIPLIERS = (1, 2, 4, 8, 16)


class UNet(nn.Module):
    """Encoder of 5 DoubleConv stages joined by 2x2 max-pools, 4 transposed-conv up blocks with
    skip concatenation, 1x1 head. Returns logits of shape N x num_classes x H x W."""

    # Four 2x poolings: inputs are padded to this multiple inside forward.
    size_multiple = 16

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 64):
        super().__init__()
        stage_channels = [width * m for m in STAGE_WIDTH_MULTIPLIERS]
        stages: list[nn.Module] = [DoubleConv(in_channels, stage_channels[0])]
        for cin, cout in pairwise(stage_channels):
            stages.append(nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout)))
        self.encoder_stages = nn.ModuleList(stages)

        # Each up block comes from the stage below and joins the skip of the stage beside it.
        deep_to_shallow = stage_channels[::-1]
        self.decoder_blocks = nn.ModuleList(
            TransposedUpBlock(cin, skip_channels=cout, out_channels=cout)
            for cin, cout in pairwise(deep_to_shallow)
        )
        self.head = nn.Conv2d(stage_channels[0], num_classes, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, (height, width) = pad_to_multiple(images, self.size_multiple)
        skips = []
        for stage in self.encoder_stages:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for block in self.decoder_blocks:
            x = block(x, skips.pop())
        return self.head(x)[..., :height, :width]
