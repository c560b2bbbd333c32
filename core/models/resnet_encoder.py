"""A ResNet encoder of depth 18, 34, 50, 101 or 152 whose parameter names and shapes match torchvision's `resnetN`
(so local ImageNet weights load into it unchanged), returning the features at strides 2 to 32. The ResNet UNets
and the ImageNet weight loader both build on it."""

from __future__ import annotations

import torch
from torch import nn

from core.models import IMAGENET_WIDTH
from core.models.resnet_blocks import BasicBlock, Bottleneck

# Block type and blocks per stage of each depth, as in He et al. 2016 and torchvision's resnet18..resnet152.
RESNET_LAYOUTS: dict[int, tuple[type[BasicBlock | Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
ENCODER_STAGE_WIDTH_MULTIPLIERS = (1, 2, 4, 8)


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
        self.name = f"resnet{depth}"  # the torchvision network whose ImageNet weights fit
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
