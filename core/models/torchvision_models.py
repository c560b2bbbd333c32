"""torchvision's segmentation networks as seglab models: DeepLabV3 (ResNet50, ResNet101, MobileNetV3-Large), LRASPP
(MobileNetV3-Large) and FCN (ResNet50), built through torchvision.models.segmentation with seglab's classes in their
head and the aux head off. Thin adapters: the logits come back as a tensor at the input's size (torchvision
upsamples to it), `.encoder` is the backbone, `.head` the last classifier conv. Their widths are torchvision's;
`width` does not change them."""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from torch import nn

from core.errors import CheckpointError
from core.models.weight_files import load_weights_file


class TorchvisionSegmentation(nn.Module):
    """One of torchvision's segmentation builders; subclasses name it, its backbone and the backbone's outputs."""

    builder = ""  # torchvision.models.segmentation function
    backbone_name = ""  # the torchvision classification network whose ImageNet weights the backbone takes
    backbone_channels: tuple[int, ...] = ()  # channels of what the backbone returns, in order
    size_multiple = 1  # any size: torchvision's heads upsample to the input

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 64,
                 encoder_weights: str | Path | None = None):
        super().__init__()
        from torchvision.models import segmentation

        build = getattr(segmentation, self.builder)
        options = {"weights": None, "weights_backbone": None, "num_classes": num_classes}
        if "aux_loss" in inspect.signature(build).parameters:
            options["aux_loss"] = False
        self.model = build(**options)
        self.width = width  # kept for the record; torchvision's channels are fixed
        if in_channels != 3:
            _replace_first_conv(self.model.backbone, in_channels)
        self.model.backbone.name = self.backbone_name
        self.model.backbone.out_channels = self.backbone_channels
        if encoder_weights is not None:
            self.load_encoder_weights(encoder_weights)

    @property
    def encoder(self) -> nn.Module:
        return self.model.backbone

    @property
    def head(self) -> nn.Conv2d:
        classifier = self.model.classifier
        return classifier.high_classifier if hasattr(classifier, "high_classifier") else classifier[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)["out"]

    def load_encoder_weights(self, path: str | Path) -> None:
        """torchvision's ImageNet weights of the backbone's classification network (a local file) into the
        backbone, strictly: its classifier left out, MobileNet's `features.` prefix dropped."""
        path = Path(path)
        weights = load_weights_file(path, f"torchvision {self.backbone_name} weights")
        renamed = {key.removeprefix("features."): value for key, value in weights.items()
                   if not key.startswith(("fc.", "classifier."))}
        expected = self.encoder.state_dict()
        missing, unexpected = sorted(expected.keys() - renamed.keys()), sorted(renamed.keys() - expected.keys())
        if missing or unexpected:
            example = (missing or unexpected)[0]
            raise CheckpointError(f"{path}: keys do not match torchvision's {self.backbone_name} ({len(missing)} "
                                  f"missing, {len(unexpected)} unexpected, e.g. '{example}')")
        wrong = [key for key in expected if tuple(renamed[key].shape) != tuple(expected[key].shape)]
        if wrong:
            raise CheckpointError(f"{path}: '{wrong[0]}' is {tuple(renamed[wrong[0]].shape)} in the file but "
                                  f"{tuple(expected[wrong[0]].shape)} in the model")
        self.encoder.load_state_dict(renamed, strict=True)


def _replace_first_conv(backbone: nn.Module, in_channels: int) -> None:
    """A backbone taking `in_channels` instead of RGB: its first convolution made anew for them."""
    name, conv = next((name, module) for name, module in backbone.named_modules() if isinstance(module, nn.Conv2d))
    parent = backbone.get_submodule(name.rpartition(".")[0]) if "." in name else backbone
    setattr(parent, name.rpartition(".")[2], nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                                      conv.padding, bias=conv.bias is not None))


class DeepLabV3ResNet50(TorchvisionSegmentation):
    builder, backbone_name, backbone_channels = "deeplabv3_resnet50", "resnet50", (2048,)


class DeepLabV3ResNet101(TorchvisionSegmentation):
    builder, backbone_name, backbone_channels = "deeplabv3_resnet101", "resnet101", (2048,)


class DeepLabV3MobileNetV3Large(TorchvisionSegmentation):
    builder, backbone_name, backbone_channels = "deeplabv3_mobilenet_v3_large", "mobilenet_v3_large", (960,)


class LRASPPMobileNetV3Large(TorchvisionSegmentation):
    builder, backbone_name, backbone_channels = "lraspp_mobilenet_v3_large", "mobilenet_v3_large", (40, 960)


class FCNResNet50(TorchvisionSegmentation):
    builder, backbone_name, backbone_channels = "fcn_resnet50", "resnet50", (2048,)
