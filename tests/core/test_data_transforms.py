"""Resizing, normalising and augmenting pairs: shapes, dtypes, binary masks, and image and mask moving together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.augment import AUGMENT_NAMES, augment_pair, elastic_deform, random_hflip
from core.data.dataset import SegmentationDataset
from core.data.oxford_pet import oxford_pet_samples
from core.data.transforms import normalize, resize_pair
from core.errors import ConfigError
from core.image_statistics import IMAGENET_MEAN, IMAGENET_STD

TINY = Path(__file__).parents[1] / "fixtures" / "oxford-pet-tiny"


def square_pair(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """A white square on black, as a float 3xSxS image, and the same square as a uint8 1xSxS mask."""
    mask = torch.zeros(1, size, size, dtype=torch.uint8)
    mask[:, 20:44, 24:40] = 1
    return mask.expand(3, -1, -1).float(), mask


def test_resize_gives_uint8_square_tensors_and_a_binary_mask():
    image = Image.new("RGB", (60, 40), (10, 200, 30))
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 15:45] = 1
    image_tensor, mask_tensor = resize_pair(image, mask, 32)
    assert image_tensor.shape == (3, 32, 32) and image_tensor.dtype == torch.uint8
    assert mask_tensor.shape == (1, 32, 32) and mask_tensor.dtype == torch.uint8
    assert set(mask_tensor.unique().tolist()) == {0, 1}
    assert image_tensor[:, 16, 16].tolist() == [10, 200, 30]


def test_mask_resize_is_nearest_neighbour_sampling_of_the_source_pixels():
    # Thin stripes at a 40x60 -> 32x32 ratio: bilinear or area filtering changes about 250 of these
    # pixels (a one-pixel stripe is blended with its neighbours), nearest only picks source pixels.
    height, width, size = 40, 60, 32
    mask = np.zeros((height, width), np.uint8)
    mask[:, ::3] = 1  # one-pixel vertical stripes every third column
    mask[7:9, :] = 1  # a two-pixel horizontal band
    _, resized = resize_pair(Image.new("RGB", (width, height)), mask, size)
    # Nearest neighbour by hand: output pixel i samples the source pixel whose cell holds i's centre.
    rows = ((np.arange(size) + 0.5) * height / size).astype(int)
    cols = ((np.arange(size) + 0.5) * width / size).astype(int)
    expected = mask[rows][:, cols]
    assert 0 < expected.sum() < expected.size  # both classes present, else any resize could match
    differing = int((resized[0].numpy() != expected).sum())
    assert differing == 0, f"{differing} of {size * size} mask pixels are not nearest-neighbour samples"


def test_normalize_uses_the_imagenet_statistics():
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    image = torch.tensor([0, 128, 255], dtype=torch.uint8).view(3, 1, 1).expand(3, 2, 2)
    normalized = normalize(image)
    assert normalized.dtype == torch.float32 and normalized.shape == (3, 2, 2)
    expected = [(0 / 255 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (255 / 255 - 0.406) / 0.225]
    assert normalized[:, 0, 0].tolist() == pytest.approx(expected, abs=1e-6)
    assert normalize(image[None]).shape == (1, 3, 2, 2)  # batches too


def test_hflip_moves_a_pixel_to_the_same_place_in_image_and_mask():
    image = torch.zeros(3, 8, 10)
    mask = torch.zeros(1, 8, 10, dtype=torch.uint8)
    image[:, 2, 1], mask[:, 2, 1] = 1.0, 1
    outcomes = set()
    for seed in range(8):
        torch.manual_seed(seed)
        flipped_image, flipped_mask = random_hflip(image, mask)
        image_x = flipped_image[0, 2].nonzero().item()
        assert flipped_mask[0, 2].nonzero().item() == image_x
        outcomes.add(image_x)
    assert outcomes == {1, 8}  # sometimes unchanged, sometimes mirrored


def test_elastic_deformation_keeps_the_mask_binary_and_aligned_with_the_image():
    image, mask = square_pair()
    for seed in range(4):
        torch.manual_seed(seed)
        warped_image, warped_mask = elastic_deform(image, mask)
        assert warped_image.shape == image.shape and warped_mask.dtype == torch.uint8
        assert set(warped_mask.unique().tolist()) <= {0, 1}
        in_image, in_mask = warped_image[0] > 0.5, warped_mask[0].bool()
        iou = (in_image & in_mask).sum() / (in_image | in_mask).sum()
        assert iou > 0.9
        assert not torch.equal(warped_mask, mask)  # it did move something


def test_elastic_deformation_is_reproducible_under_a_seed():
    image, mask = square_pair()
    torch.manual_seed(11)
    first = elastic_deform(image, mask)
    torch.manual_seed(11)
    second = elastic_deform(image, mask)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_every_policy_keeps_shapes_and_unknown_policy_lists_the_names():
    image, mask = square_pair(32)
    torch.manual_seed(0)
    for policy in AUGMENT_NAMES:
        out_image, out_mask = augment_pair(image, mask, policy)
        assert out_image.shape == image.shape and out_mask.shape == mask.shape
    assert augment_pair(image, mask, "none") == (image, mask)
    with pytest.raises(ConfigError, match="none, flip, standard, strong, elastic"):
        augment_pair(image, mask, "rotate")


def test_dataset_items_are_normalized_float_images_and_zero_one_masks():
    samples = oxford_pet_samples(TINY, "test")
    dataset = SegmentationDataset(samples, image_size=48, augment="elastic")
    assert len(dataset) == 4 and dataset.samples == samples
    torch.manual_seed(0)
    image, mask = dataset[0]
    assert image.shape == (3, 48, 48) and image.dtype == torch.float32
    assert mask.shape == (1, 48, 48) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert image.min() < -1.0 and image.max() > 1.0  # standardised, not 0..1


def test_dataset_refuses_an_unknown_augmentation():
    with pytest.raises(ConfigError, match="augment"):
        SegmentationDataset([], image_size=32, augment="mixup")
