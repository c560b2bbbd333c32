"""Every registered model's size: parameters and forward GFLOPs at a given input size, counted on torch's meta
device (no memory, no compute), for `seglab models` and the README's model table."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from core.models import MODELS, build_model, count_parameters


@dataclass(frozen=True)
class ModelSize:
    name: str
    description: str
    parameters: int
    gflops: float  # forward, one image; 2 FLOPs per multiply-add (convolutions and matmuls, as torch counts)
    imagenet_weights: bool


def model_size(name: str, image_size: int = 256, width: int = 64, num_classes: int = 1) -> ModelSize:
    """Parameters and forward GFLOPs of one image of `image_size` px, for `name` at `width`."""
    with torch.device("meta"):
        model = build_model(name, num_classes=num_classes, width=width).eval()
        images = torch.empty(1, 3, image_size, image_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(images)
    spec = MODELS[name]
    return ModelSize(name, spec.description, count_parameters(model), counter.get_total_flops() / 1e9,
                     spec.pretrained_encoder)


def model_sizes(image_size: int = 256, width: int = 64) -> list[ModelSize]:
    """model_size of every model in the registry, in its order."""
    return [model_size(name, image_size, width) for name in MODELS]
