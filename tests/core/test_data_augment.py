"""Augment policies (core/data/augment.py): every policy moves image and mask together, colours and seeds."""

from __future__ import annotations

import pytest
import torch

from core.data.augment import AUGMENT_NAMES, augment_pair

SIZE = 64


def square_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A black square (the object) on white, as a uint8 image, and its 0/1 mask."""
    image = torch.full((3, SIZE, SIZE), 255, dtype=torch.uint8)
    mask = torch.zeros((1, SIZE, SIZE), dtype=torch.uint8)
    image[:, 12:44, 20:52], mask[:, 12:44, 20:52] = 0, 1
    return image, mask


def darkest_quarter(image: torch.Tensor) -> torch.Tensor:
    """Pixels in the darkest quarter of the image's range: the square, whatever the colour jitter did.
    (Brightness, contrast and saturation keep the order black < the grey rotation fill < white.)"""
    luminance = image.float().mean(dim=0)
    low, high = luminance.min(), luminance.max()
    return luminance < low + 0.25 * (high - low)

@pytest.mark.parametrize("policy", [p for p in AUGMENT_NAMES if p != "none"])
def test_each_augmentation_moves_image_and_mask_together(policy):
    image, mask = square_pair()
    moved = 0
    for seed in range(12):
        torch.manual_seed(seed)
        out_image, out_mask = augment_pair(image, mask, policy)
        assert out_image.shape == image.shape and out_image.dtype == torch.uint8
        assert out_mask.shape == mask.shape and set(out_mask.unique().tolist()) <= {0, 1}
        in_mask, in_image = out_mask[0].bool(), darkest_quarter(out_image)
        if not in_mask.any():  # a crop that missed the square: the image must have lost it too
            assert in_image.float().mean() < 0.02
            continue
        iou = (in_mask & in_image).sum() / (in_mask | in_image).sum()
        assert iou > 0.85, f"{policy}, seed {seed}: image and mask disagree (IoU {iou:.2f})"
        moved += not torch.equal(out_mask, mask)
    assert moved >= 3  # the policy does move things


def test_standard_and_strong_change_the_colours_but_flip_does_not():
    image, mask = square_pair()
    image[:, :, :] = torch.tensor([200, 120, 60], dtype=torch.uint8).view(3, 1, 1)
    torch.manual_seed(0)
    flipped, _ = augment_pair(image, mask, "flip")
    assert torch.equal(flipped, image)
    for policy in ("standard", "strong"):
        torch.manual_seed(0)
        jittered, _ = augment_pair(image, mask, policy)
        assert not torch.equal(jittered, image)


def test_augmentation_repeats_under_a_seed():
    image, mask = square_pair()
    outcomes = []
    for _ in range(2):
        torch.manual_seed(7)
        outcomes.append(augment_pair(image, mask, "strong"))
    assert torch.equal(outcomes[0][0], outcomes[1][0]) and torch.equal(outcomes[0][1], outcomes[1][1])
