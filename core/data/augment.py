"""Random augmentations of an image/mask pair, applied identically to both, as named policies.

Policies run on the cached uint8 tensors (3xSxS image, 1xSxS 0/1 mask), before normalisation; the
geometric ones come from torchvision.transforms.v2, which moves a Mask with nearest-neighbour sampling.
Random choices use torch's global RNG, so a seeded run (and each seeded DataLoader worker) repeats exactly.
torchvision is imported only by the policies that use it: importing it loads torch._dynamo (1.7 s on a 2-core
EPYC), which prediction and evaluation never need.

- none: the pair as it is.
- flip: a horizontal mirror half of the time (the original experiment).
- standard: random resized crop (scale 0.5-1), flip, rotation up to 10 degrees, mild colour jitter.
- strong: random resized crop (scale 0.3-1), flip, rotation up to 20 degrees, stronger colour jitter,
  an occasional grey image, and the UNet paper's elastic deformation a quarter of the time.
- elastic: flip, then the elastic deformation half of the time.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

from core.data.augment_policies import AUGMENT_NAMES
from core.errors import ConfigError

FLIP_PROBABILITY = 0.5
# Half the training images stay undeformed, so the network still sees the true shapes of the data.
ELASTIC_PROBABILITY = 0.5
STRONG_ELASTIC_PROBABILITY = 0.25
# Areas uncovered by a rotation take a mid grey (about the ImageNet mean) in the image, background in the mask.
IMAGE_FILL, MASK_FILL = (124, 116, 104), 0


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


@lru_cache(maxsize=8)
def photo_pipeline(policy: str, size: int) -> Callable[..., Any]:
    """The torchvision part of the standard and strong policies for square `size` inputs (a v2.Compose)."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    strong = policy == "strong"
    fill = {tv_tensors.Image: IMAGE_FILL, tv_tensors.Mask: MASK_FILL}
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.3 if strong else 0.5, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(FLIP_PROBABILITY),
        v2.RandomRotation(20 if strong else 10, interpolation=v2.InterpolationMode.BILINEAR, fill=fill),
        v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05) if strong
        else v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        v2.RandomGrayscale(0.1 if strong else 0.0),
    ])


def augment_pair(image: torch.Tensor, mask: torch.Tensor, policy: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply augmentation `policy` (see the module's docstring) to a uint8 3xHxW image and its 1xHxW mask."""
    check_augment_name(policy)
    if policy == "none":
        return image, mask
    if policy in ("standard", "strong"):
        from torchvision import tv_tensors

        out_image, out_mask = photo_pipeline(policy, image.shape[-1])(tv_tensors.Image(image), tv_tensors.Mask(mask))
        image, mask = out_image.as_subclass(torch.Tensor), out_mask.as_subclass(torch.Tensor)
        if policy == "strong" and torch.rand(()) < STRONG_ELASTIC_PROBABILITY:
            image, mask = elastic_deform(image, mask)
        return image, mask
    image, mask = random_hflip(image, mask)
    if policy == "elastic" and torch.rand(()) < ELASTIC_PROBABILITY:
        image, mask = elastic_deform(image, mask)
    return image, mask


def check_augment_name(policy: str) -> None:
    """Raise ConfigError listing the valid names when `policy` is not one of AUGMENT_NAMES."""
    if policy not in AUGMENT_NAMES:
        raise ConfigError(f"augment: {policy!r} is not one of {', '.join(AUGMENT_NAMES)}")
