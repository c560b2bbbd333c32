"""UNets with a ResNet encoder of depth 18, 34, 50, 101 or 152 (core/models/resnet_encoder.py, torchvision's
layout) and the nearest-upsampling decoder of core/models/encoder_unet.py, whose channels follow the encoder's."""

from __future__ import annotations

from pathlib import Path

from core.models import IMAGENET_WIDTH
from core.models.encoder_unet import EncoderUNet
from core.models.resnet_encoder import ResNetEncoder


class ResNetUNet(EncoderUNet):
    """ResNet encoder, 5 InterpUpBlocks (skips from layer3, layer2, layer1, the stem, then none), 1x1 head.
    Returns logits of shape N x num_classes x H x W for any H, W. Subclasses fix the depth."""

    depth = 34

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1,
        width: int = IMAGENET_WIDTH,
        encoder_weights: str | None = None,
    ):
        super().__init__(ResNetEncoder(self.depth, in_channels, width), num_classes, width)
        if encoder_weights is not None:
            self.load_encoder_weights(encoder_weights)

    def load_encoder_weights(self, path: str | Path) -> None:
        """torchvision's ImageNet resnetN weights (a local file) into the encoder, strictly."""
        from core.models.encoder_weights import load_encoder_weights

        load_encoder_weights(self.encoder, path)


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
