"""The small-data recipe's pieces: augmentations keep image and mask aligned, flip TTA, presets, the
warmup + cosine schedule, the weights' EMA, early stopping and starting weights."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from torch import nn

import core.engine
from core.checkpoints import load_checkpoint
from core.config import PRESETS, TrainConfig
from core.data.augment import AUGMENT_NAMES, augment_pair
from core.engine import evaluate_run, train
from core.errors import ConfigError
from core.events import EpochEvent, StatusEvent, read_events
from core.models import build_model
from core.runs import create_run, runs_root
from core.schedules import WARMUP_START_FACTOR, lr_factor
from core.tta import predict_logits

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


class Pointwise(nn.Module):
    """A 1x1 convolution: it treats every pixel alike, so mirroring the input mirrors its output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([0.8, -0.5, 0.3]).view(1, 3, 1, 1))
            self.conv.bias.fill_(0.1)

    def forward(self, x):
        return self.conv(x)


def test_flip_tta_of_a_mirror_symmetric_model_equals_the_plain_prediction():
    images = torch.randn(2, 3, 16, 16)
    model = Pointwise()
    plain = model(images)
    assert plain.abs().max() < 8  # logits where the probability round trip is exact to 1e-4
    assert torch.allclose(predict_logits(model, images, "flip"), plain, atol=1e-4)


def test_flip_tta_of_a_lopsided_model_averages_the_two_views():
    model = nn.Conv2d(3, 1, kernel_size=(1, 3), padding=(0, 1), bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([1.0, 0.0, -1.0]).expand(1, 3, 1, 3))  # a left-right gradient
    images = torch.randn(1, 3, 8, 8)
    expected = (torch.sigmoid(model(images)) + torch.sigmoid(model(images.flip(-1)).flip(-1))) / 2
    got = predict_logits(model, images, "flip")
    assert not torch.allclose(got, model(images), atol=1e-3)
    assert torch.allclose(torch.sigmoid(got), expected, atol=1e-6)
    with pytest.raises(ConfigError, match="tta: 'rotate' is not one of none, flip"):
        predict_logits(model, images, "rotate")


def test_the_paper_preset_is_exactly_the_original_experiment():
    paper = PRESETS["paper"]
    assert (paper.model, paper.image_size, paper.width, paper.batch_size, paper.lr, paper.weight_decay) == (
        "unet", 256, 64, 16, 5e-4, 0.01)
    assert (paper.loss, paper.augment, paper.scheduler, paper.warmup_epochs, paper.ema, paper.patience) == (
        "bce", "flip", "none", 0, 0.0, 0)
    assert (paper.val_fraction, paper.init_from, paper.encoder_weights, paper.preset) == (0.1, "", "", "paper")


def test_the_small_data_and_demo_presets_expand_to_their_documented_settings():
    small = PRESETS["small-data"]
    assert (small.model, small.width, small.image_size, small.epochs, small.batch_size, small.lr) == (
        "unet", 32, 128, 170, 16, 1e-3)
    assert (small.loss, small.augment, small.scheduler, small.warmup_epochs, small.ema, small.preset) == (
        "bce+dice", "standard", "cosine", 3, 0.99, "small-data")
    demo = PRESETS["demo"]
    assert (demo.model, demo.width, demo.image_size, demo.epochs, demo.data) == ("unet", 16, 128, 8, "synthetic")


def test_warmup_climbs_linearly_then_cosine_decays_to_zero():
    config = TrainConfig(epochs=10, warmup_epochs=2, scheduler="cosine")
    steps = 5
    factors = [lr_factor(step, config, steps) for step in range(10 * steps + 1)]
    assert factors[0] == pytest.approx(WARMUP_START_FACTOR)
    assert factors[5] == pytest.approx(WARMUP_START_FACTOR + (1 - WARMUP_START_FACTOR) / 2)
    assert factors[10] == pytest.approx(1.0)  # warmup over: the peak
    assert factors[30] == pytest.approx(0.5)  # half-way through the decay
    assert factors[50] == pytest.approx(0.0, abs=1e-12)
    assert all(a <= b for a, b in zip(factors[:10], factors[1:11], strict=True))
    assert all(a >= b for a, b in zip(factors[10:-1], factors[11:], strict=True))
    constant = TrainConfig(epochs=10, warmup_epochs=1)
    assert [lr_factor(step, constant, steps) for step in (5, 20, 49)] == [1.0, 1.0, 1.0]


def new_run(config):
    return create_run(config, runs_root())


def test_the_schedule_steps_every_optimizer_step(tiny_config):
    config = tiny_config.replace(epochs=3, warmup_epochs=1, scheduler="cosine")  # 5 steps an epoch
    run = new_run(config)
    train(config, run)
    lrs = [e.lr for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    peak = config.lr
    assert lrs == pytest.approx([WARMUP_START_FACTOR * peak, peak, peak * 0.5 * (1 + math.cos(math.pi / 2))])


def test_with_an_ema_validation_and_checkpoints_use_the_averaged_weights(tiny_config):
    config = tiny_config.replace(epochs=2, ema=0.9)
    run = new_run(config)
    train(config, run)
    payload = load_checkpoint(run.checkpoint_path("last"))
    averaged, trained = payload["model"], payload["train_model"]
    assert any(not torch.equal(averaged[key], trained[key]) for key in trained)
    last_epoch = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)][-1]
    assert evaluate_run(run, split="val", checkpoint="last")["dice"] == pytest.approx(last_epoch.val_dice, abs=1e-6)


def test_a_run_with_ema_and_schedule_resumes_to_the_uninterrupted_weights(tiny_config, monkeypatch):
    config = tiny_config.replace(epochs=3, ema=0.9, warmup_epochs=1, scheduler="cosine")
    uninterrupted = new_run(config)
    train(config, uninterrupted)
    resumed, stop = new_run(config), threading.Event()

    def stop_in_epoch_2(event):
        if getattr(event, "epoch", 0) == 2 and getattr(event, "step", 0) == 3:
            stop.set()

    monkeypatch.setattr(core.engine, "PROGRESS_INTERVAL_S", 0)  # a progress event after every step
    assert train(config, resumed, stop=stop, callback=stop_in_epoch_2).state == "stopped"
    assert train(config, resumed, resume=True).state == "finished"
    got, want = (load_checkpoint(r.checkpoint_path("last")) for r in (resumed, uninterrupted))
    for part in ("model", "train_model"):
        for key in want[part]:
            assert torch.allclose(got[part][key].float(), want[part][key].float(), atol=1e-6), (part, key)
    lrs = [[e.lr for e in read_events(r.events_path) if isinstance(e, EpochEvent)] for r in (resumed, uninterrupted)]
    assert lrs[0] == pytest.approx(lrs[1])


def test_early_stopping_ends_a_run_that_stopped_improving(tiny_config):
    config = tiny_config.replace(epochs=6, patience=2, lr=1e-12)  # nothing learns: Dice never improves
    run = new_run(config)
    summary = train(config, run)
    epochs = [e.epoch for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    assert epochs == [1, 2, 3]
    assert summary.state == "finished" and summary.epochs == 3
    assert run.read_status().message == "stopped early after epoch 3: no better val Dice in 2 epochs"


def test_init_from_a_run_starts_from_its_best_weights_with_a_fresh_optimizer(tiny_config):
    first = new_run(tiny_config)
    train(tiny_config, first)
    config = tiny_config.replace(epochs=1, lr=1e-12, init_from=first.name, name="finetune")
    second = new_run(config)
    train(config, second)
    messages = [e.message for e in read_events(second.events_path) if isinstance(e, StatusEvent)]
    assert any(m.startswith(f"starting from weights from {first.checkpoint_path('best')}") for m in messages)
    start, after = load_checkpoint(first.checkpoint_path("best")), load_checkpoint(second.checkpoint_path("last"))
    for name, _ in build_model("unet", width=8).named_parameters():
        assert torch.allclose(after["model"][name], start["model"][name], atol=1e-8), name
    assert after["optimizer"]["state"][0]["step"].item() == 5  # one epoch of steps: its own optimizer


def test_init_from_weights_of_another_shape_is_one_clear_line(tiny_config):
    wide = tiny_config.replace(width=16, epochs=1)
    source = new_run(wide)
    train(wide, source)
    config = tiny_config.replace(init_from=str(source.checkpoint_path("best")))
    with pytest.raises(ConfigError, match=r"init_from: .*best.pt holds a unet of width 16; this run trains a unet "
                                          r"of width 8"):
        train(config, new_run(config))
