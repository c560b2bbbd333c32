"""Progress pictures: one per epoch (or every k), the same validation images each time, and training's numbers
exactly those of a run without them."""

from __future__ import annotations

import contextlib

import torch
from PIL import Image
from torchvision.utils import draw_segmentation_masks

from core.data.labels import Labels, class_colour
from core.errors import DataError
from core.runs.events import EpochEvent, PictureEvent, read_events
from core.runs.folders import create_run, runs_root
from core.runs.pictures import progress_pictures
from core.training.checkpoints import load_checkpoint
from core.training.engine import train
from core.training.launch import check_before_run
from core.training.progress_images import ALPHA, MIN_TILE_PX, ProgressPictures


def run_of(config):
    run = create_run(config, runs_root())
    train(config, run)
    return run


def test_a_picture_an_epoch_with_a_truth_and_a_prediction_tile_per_image(tiny_config):
    config = tiny_config.replace(epochs=3, synthetic_count=60, progress_images=3)
    run = run_of(config)
    pictures = progress_pictures(run.path)
    assert [epoch for epoch, _ in pictures] == [1, 2, 3]
    events = [e for e in read_events(run.events_path) if isinstance(e, PictureEvent)]
    assert [(e.epoch, e.path) for e in events] == [(epoch, str(path)) for epoch, path in pictures]
    scale = -(-MIN_TILE_PX // 32)
    with Image.open(pictures[0][1]) as first, Image.open(pictures[-1][1]) as last:
        assert first.size == last.size == (2 * 32 * scale, 3 * 32 * scale + 14)
        # the truth column is the same picture every epoch: the same images
        truth = (0, 14, 32 * scale, first.height)
        assert first.crop(truth).tobytes() == last.crop(truth).tobytes()


def test_every_k_epochs_and_the_last(tiny_config):
    run = run_of(tiny_config.replace(epochs=5, progress_every=2))
    assert [epoch for epoch, _ in progress_pictures(run.path)] == [2, 4, 5]


def test_pictures_do_not_change_a_single_number_of_training(tiny_config):
    with_pictures = run_of(tiny_config.replace(epochs=3, progress_images=4))
    without = run_of(tiny_config.replace(epochs=3, progress_images=0))
    assert progress_pictures(without.path) == []

    def numbers(run):
        return [(e.train_loss, e.val_loss, e.val_dice, e.val_iou, e.lr) for e in read_events(run.events_path)
                if isinstance(e, EpochEvent)]

    assert numbers(with_pictures) == numbers(without)
    a, b = load_checkpoint(with_pictures.checkpoint_path("last"))["model"], \
        load_checkpoint(without.checkpoint_path("last"))["model"]
    assert all(bool((a[key] == b[key]).all()) for key in a)


def test_a_multiclass_run_has_its_pictures(tiny_config):
    config = check_before_run(tiny_config.replace(task="multiclass", loss="ce", epochs=1), runs_root())
    (picture,) = progress_pictures(run_of(config).path)
    assert picture[0] == 1


class HalfAndHalf:
    """Two 32 px grey images whose true mask is class 1 on the left half, background on the right."""

    def __len__(self) -> int:
        return 2

    def decode(self, index: int):
        mask = torch.zeros(1, 32, 32, dtype=torch.uint8)
        mask[:, :, :16] = 1
        return torch.full((3, 32, 32), 100, dtype=torch.uint8), mask


class AlwaysClassTwo(torch.nn.Module):
    def forward(self, images):
        logits = torch.zeros(images.shape[0], 3, *images.shape[2:])
        logits[:, 2] = 5.0
        return logits


class PlainRuntime:
    def autocast(self):
        return contextlib.nullcontext()

    def prepare_batch(self, batch):
        return batch


def blend(colour) -> tuple[int, ...]:
    return tuple(int(100 * (1 - ALPHA) + c * ALPHA) for c in colour)


def test_tiles_show_the_true_and_the_predicted_classes_in_their_colours(tmp_path):
    labels = Labels(task="multiclass", names=("background", "cat", "dog"))
    pictures = ProgressPictures(HalfAndHalf(), 2, labels, PlainRuntime(), tmp_path)
    with Image.open(pictures.draw(AlwaysClassTwo(), 3)) as picture:
        scale = MIN_TILE_PX // 32
        row = 14 + 10 * scale  # inside the first image's row
        left, right, predicted = picture.getpixel((4, row)), picture.getpixel((20 * scale, row)), \
            picture.getpixel((40 * scale, row))
    close = lambda a, b: max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1  # noqa: E731
    assert close(left, blend(class_colour(1)))  # truth: class 1 on the left half
    assert right == (100, 100, 100)  # truth: background on the right, the image as it is
    assert close(predicted, blend(class_colour(2)))  # the prediction: class 2 everywhere


def test_a_tile_is_what_draw_segmentation_masks_draws():
    """Binary and five-class tiles of a random image, pixel for pixel (seglab's tables, not torchvision's code)."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 29, 35), dtype=torch.uint8, generator=generator)
    classes = torch.randint(0, 6, (29, 35), generator=generator)
    for masks in ([(classes > 2, class_colour(1))], [(classes == index, class_colour(index)) for index in range(1, 6)]):
        expected = draw_segmentation_masks(image, torch.stack([mask for mask, _ in masks]), alpha=ALPHA,
                                           colors=[colour for _, colour in masks])
        assert (ProgressPictures._overlay(image, masks) == expected.permute(1, 2, 0).numpy()).all()


class OneUnreadable(HalfAndHalf):
    def decode(self, index: int):
        if index == 0:
            raise DataError("img00.jpg", "cannot read image (truncated)")
        return super().decode(index)


def test_an_unreadable_validation_image_is_left_out_of_the_pictures_not_fatal(tmp_path):
    labels = Labels(task="multiclass", names=("background", "cat", "dog"))
    pictures = ProgressPictures(OneUnreadable(), 2, labels, PlainRuntime(), tmp_path)
    assert len(pictures.samples) == 1
    with Image.open(pictures.draw(AlwaysClassTwo(), 1)) as picture:
        assert picture.height == 14 + 32 * (MIN_TILE_PX // 32)  # one row


def test_more_pictures_asked_than_the_split_holds_shows_every_image(tmp_path):
    """--progress-images 8 with 2 validation images showed one: the spread index * 2 // 8 is 0 for both."""
    labels = Labels(task="multiclass", names=("background", "cat", "dog"))
    for count, shown in ((1, 1), (2, 2), (8, 2)):
        assert len(ProgressPictures(HalfAndHalf(), count, labels, PlainRuntime(), tmp_path).samples) == shown, count
