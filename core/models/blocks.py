"""Small named blocks the segmentation networks are composed of (conv stacks, decoder up-blocks)
and the pad-to-a-multiple helper that lets them take images of any size."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def conv_over_concat(conv: nn.Conv2d, parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """`conv(torch.cat(parts, dim=1))` without building the concatenation.

    A convolution is linear in its input channels, so it equals the sum of one convolution per
    part with that part's slice of the weight. Same parameters, same result up to float rounding,
    but no concat copy forward and no sliced (non-contiguous) gradients backward: on CPU in
    channels_last those made the upsampling backward before a skip join several times slower
    (bench/README.md, "Decoder joins without torch.cat").
    """
    if conv.groups != 1 or conv.padding_mode != "zeros":
        raise ValueError("conv_over_concat needs an ungrouped, zero-padded conv")
    if sum(part.shape[1] for part in parts) != conv.in_channels:
        raise ValueError(f"parts have {[part.shape[1] for part in parts]} channels, the conv takes {conv.in_channels}")
    out, start = None, 0
    for part in parts:
        stop = start + part.shape[1]
        bias = conv.bias if out is None else None  # added once, with the first part
        term = F.conv2d(part, conv.weight[:, start:stop], bias, conv.stride, conv.padding, conv.dilation)
        out = term if out is None else out + term
        start = stop
    return out


class ConvBNReLU(nn.Sequential):
    """3x3 same-padding conv (no bias: BatchNorm's shift makes it redundant), BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward_concat(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """This block applied to the channel-concatenation of `parts`, without concatenating."""
        conv, norm, activation = self
        return activation(norm(conv_over_concat(conv, parts)))


class DoubleConv(nn.Sequential):
    """Two ConvBNReLU in a row: the unit every UNet stage and decoder block is made of."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(ConvBNReLU(in_channels, out_channels), ConvBNReLU(out_channels, out_channels))

    def forward_concat(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """This block applied to the channel-concatenation of `parts` (a decoder's skip join)."""
        first, second = self
        return second(first.forward_concat(parts))


def resize_to(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Nearest-resize x to `size` (H, W); a no-op when it already has that size."""
    if x.shape[-2:] == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="nearest")


class TransposedUpBlock(nn.Module):
    """UNet decoder step: learned 2x upsampling (halving channels), join the skip, DoubleConv."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels // 2 + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # The transposed conv gives exactly 2x; the resize only matters if a caller feeds
        # sizes that are not multiples of the network's stride.
        return self.conv.forward_concat([resize_to(self.up(x), skip.shape[-2:]), skip])


class InterpUpBlock(nn.Module):
    """ResNet-UNet decoder step: 2x nearest upsampling, join the skip if any, DoubleConv."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.conv = DoubleConv(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is None:
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv.forward_concat([resize_to(x, skip.shape[-2:]), skip])


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad x on the bottom and right so H and W are multiples of `multiple`.

    Returns the padded tensor and the original (H, W) to crop the output back to.
    Zeros rather than reflect: reflect fails when the pad is wider than the image (a 5 px
    image padded to 16), zeros work for any size, and on normalised input zero is the
    dataset-mean colour, the same value the convs' own same-padding already uses.
    Padding only bottom/right keeps the crop a plain slice from the origin.
    """
    height, width = x.shape[-2:]
    pad_bottom = -height % multiple
    pad_right = -width % multiple
    if isinstance(pad_bottom, int) and isinstance(pad_right, int) and not (pad_bottom or pad_right):
        return x, (height, width)  # eager, already a multiple: no copy
    # traced with symbolic sizes (ONNX export with dynamic H x W) the pad is always in the graph: a branch on the
    # example's size would be baked in, and other sizes would run unpadded
    return F.pad(x, (0, pad_right, 0, pad_bottom)), (height, width)
