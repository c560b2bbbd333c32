"""ImageNet weights for a ResNet encoder from a local torchvision file: which depth a file holds, and a strict
load whose every refusal is one line naming the file, the expected and the found shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from core.errors import CheckpointError
from core.models import IMAGENET_WIDTH
from core.models.resnet_encoder import RESNET_LAYOUTS, ResNetEncoder

_BLOCK_KEY = re.compile(r"^layer([1-4])\.(\d+)\.")


def block_layout(weights: Mapping[str, torch.Tensor]) -> tuple[int, int, int, int]:
    """Blocks per stage that a ResNet state dict holds (0 for a stage it lacks)."""
    counts = [0, 0, 0, 0]
    for key in weights:
        match = _BLOCK_KEY.match(key)
        if match:
            stage, block = int(match[1]) - 1, int(match[2])
            counts[stage] = max(counts[stage], block + 1)
    return counts[0], counts[1], counts[2], counts[3]


def resnet_depth_of(weights: Mapping[str, torch.Tensor]) -> int | None:
    """The torchvision ResNet depth whose layout the state dict has (18, 34, 50, 101, 152), or None."""
    bottleneck = any(".conv3." in key for key in weights)
    layout = block_layout(weights)
    for depth, (block, blocks) in RESNET_LAYOUTS.items():
        if blocks == layout and (block.expansion == 4) == bottleneck:
            return depth
    return None


def read_state_dict(path: str | Path, depth: int) -> dict[str, torch.Tensor]:
    """The tensors of a torchvision weights file, fc.* left out; CheckpointError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: encoder weights file not found")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable torch weights file ({type(error).__name__})") from error
    if not isinstance(loaded, Mapping) or not loaded or not all(isinstance(v, torch.Tensor)
                                                               for v in loaded.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors (expected torchvision resnet{depth} weights)")
    return {key: value for key, value in loaded.items() if not key.startswith("fc.")}


def load_encoder_weights(encoder: ResNetEncoder, path: str | Path) -> None:
    """Load a local torchvision resnetN state dict into `encoder`, strictly: another depth, a truncated or foreign
    file, or an encoder narrower than ImageNet's raise CheckpointError naming the file and the shapes."""
    depth = encoder.depth
    weights = read_state_dict(path, depth)
    expected = encoder.state_dict()
    found_depth = resnet_depth_of(weights)
    if found_depth is not None and found_depth != depth:
        raise CheckpointError(f"{path}: holds resnet{found_depth} weights, but this encoder is a resnet{depth} "
                              f"({_difference(expected, weights)})")
    missing = sorted(expected.keys() - weights.keys())
    unexpected = sorted(weights.keys() - expected.keys())
    if missing or unexpected:
        examples = ", ".join(f"'{key}'" for key in (missing[:1] + unexpected[:1]))
        raise CheckpointError(f"{path}: keys do not match a resnet{depth} encoder ({len(missing)} missing, "
                              f"{len(unexpected)} unexpected, e.g. {examples})")
    wrong_shapes = [key for key in expected if expected[key].shape != weights[key].shape]
    if wrong_shapes:
        key = wrong_shapes[0]
        raise CheckpointError(f"{path}: {len(wrong_shapes)} tensors have the wrong shape, e.g. '{key}' is "
                              f"{tuple(weights[key].shape)} in the file but {tuple(expected[key].shape)} in the "
                              f"model (ImageNet weights need width {IMAGENET_WIDTH})")
    encoder.load_state_dict(weights, strict=True)


def _difference(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> str:
    """Where two ResNet state dicts part: a tensor of another shape, else their blocks per stage."""
    for key in expected:
        if key in found and found[key].shape != expected[key].shape:
            return f"'{key}' is {tuple(found[key].shape)} in the file, {tuple(expected[key].shape)} in the model"
    layout = ", ".join(map(str, block_layout(found)))
    return f"blocks per stage: {layout} in the file, {', '.join(map(str, block_layout(expected)))} in the model"
