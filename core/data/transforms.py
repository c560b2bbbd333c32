"""Resize, normalise and augment decoded image/mask pairs as tensors, keeping image and mask aligned.

Random choices use torch's global RNG, so a seeded run (and each seeded DataLoader worker) repeats exactly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the ResNet34 encoder's pretrained weights expect these statistics
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENT_NAMES = ("none", "flip", "elastic")
FLIP_PROBABILITY = 0.5
# Half the training images stay undeformed, so the network still sees the true shapes of the data.
ELASTIC_PROBABILITY = 0.5


def resize_image(image: Image.Image, size: int) -> torch.Tensor:
    """RGB image as uint8 3 x size x size, bilinear: the one resize used for training and prediction."""
    # Pillow's bilinear filter widens its support when shrinking, so downscaled photos do not alias.
    resized = (image if image.mode == "RGB" else image.convert("RGB")).resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(resized, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def resize_pair(image: Image.Image, mask: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image as uint8 3 x size x size (bilinear) and 0/1 mask as uint8 1 x size x size (nearest)."""
    resized_mask = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).resize(
        (size, size), Image.Resampling.NEAREST
    )
    return resize_image(image, size), torch.from_numpy(np.array(resized_mask, dtype=np.uint8))[None]


def normalize(image: torch.Tensor) -> torch.Tensor:
    """uint8 image(s) (..., 3, H, W) as float32 scaled to 0..1 then standardised with the ImageNet statistics."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=image.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=image.device).view(3, 1, 1)
    return (image.float() / 255.0 - mean) / std


def random_hflip(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both mirrored left-right with probability 0.5, or both unchanged."""
    if torch.rand(()) < FLIP_PROBABILITY:
        return image.flip(-1), mask.flip(-1)
    return image, mask


def elastic_deform(
    image: torch.Tensor, mask: torch.Tensor, sigma: float = 10.0, grid: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """The UNet paper's elastic deformation of a C x H x W image and its 1 x H x W mask, with one shared field.

    Random displacements with std `sigma` pixels on a coarse `grid` x `grid` lattice, upsampled bicubically
    to every pixel; the image is resampled bilinearly, the mask by nearest neighbour so it stays 0/1.
    """
    height, width = image.shape[-2:]
    coarse = torch.randn(1, 2, grid, grid) * sigma
    displacement = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)[0]
    # grid_sample with align_corners=True maps -1 and 1 to the centres of the edge pixels.
    pixel_to_unit = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)]).view(2, 1, 1)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    sampling = (torch.stack((xs, ys)) + displacement * pixel_to_unit).permute(1, 2, 0)[None]
    sampling = sampling.to(image.device)
    warped_image = F.grid_sample(
        image[None].float(), sampling, mode="bilinear", padding_mode="border", align_corners=True
    )[0]
    if not image.is_floating_point():
        warped_image = warped_image.round()  # uint8 input: nearest value, not truncation
    warped_image = warped_image.to(image.dtype)
    warped_mask = F.grid_sample(
        mask[None].float(), sampling, mode="nearest", padding_mode="border", align_corners=True
    )[0].to(mask.dtype)
    return warped_image, warped_mask


def augment_pair(image: torch.Tensor, mask: torch.Tensor, policy: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply augmentation `policy`: none; flip (random mirror); elastic (flip, then elastic deformation at p=0.5)."""
    check_augment_name(policy)
    if policy == "none":
        return image, mask
    image, mask = random_hflip(image, mask)
    if policy == "elastic" and torch.rand(()) < ELASTIC_PROBABILITY:
        image, mask = elastic_deform(image, mask)
    return image, mask


def check_augment_name(policy: str) -> None:
    """Raise ConfigError listing the valid names when `policy` is not one of AUGMENT_NAMES."""
    if policy not in AUGMENT_NAMES:
        raise ConfigError(f"augment: {policy!r} is not one of {', '.join(AUGMENT_NAMES)}")
