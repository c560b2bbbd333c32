"""Dice/IoU metrics checked against hand-counted masks, per-image vs whole-set averages, and the
three training losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.errors import ConfigError
from core.losses import LOSSES_FOR_TASK, build_loss
from core.metrics import SegmentationMeter, confusion_per_image, dice_iou_from_counts

BINARY_LOSSES = LOSSES_FOR_TASK["binary"]

# Logits far from 0 so sigmoid is ~0 or ~1: a "confident" prediction.
CONFIDENT = 20.0


def as_logits(mask: torch.Tensor) -> torch.Tensor:
    return (mask.float() * 2 - 1) * CONFIDENT


def test_dice_and_iou_of_a_2x2_mask_match_hand_count():
    # pred    target
    # 1 0     1 1      tp=1 (top-left), fp=1 (bottom-left), fn=1 (top-right)
    # 1 0     0 0      Dice = 2*1/(2*1+1+1) = 0.5, IoU = 1/(1+1+1) = 1/3
    prediction = torch.tensor([[[[1, 0], [1, 0]]]])
    target = torch.tensor([[[[1, 1], [0, 0]]]]).float()

    tp, fp, fn = confusion_per_image(as_logits(prediction), target)
    dice, iou = dice_iou_from_counts(tp, fp, fn)

    assert (tp.tolist(), fp.tolist(), fn.tolist()) == ([1], [1], [1])
    assert tp.dtype == torch.int64
    assert dice.dtype == torch.float64
    assert dice.item() == pytest.approx(0.5)
    assert iou.item() == pytest.approx(1 / 3)


def test_dice_and_iou_of_a_4x4_mask_match_hand_count():
    # pred = rows 0-1 (8 px), target = rows 0-2 (12 px): tp=8, fp=0, fn=4
    # Dice = 16/(16+0+4) = 0.8, IoU = 8/12 = 2/3
    prediction = torch.zeros(1, 1, 4, 4)
    prediction[..., :2, :] = 1
    target = torch.zeros(1, 1, 4, 4)
    target[..., :3, :] = 1

    dice, iou = dice_iou_from_counts(*confusion_per_image(as_logits(prediction), target))

    assert dice.item() == pytest.approx(0.8)
    assert iou.item() == pytest.approx(2 / 3)


def test_both_empty_scores_one_and_missed_target_scores_zero():
    empty = torch.zeros(2, 1, 4, 4)
    target = torch.zeros(2, 1, 4, 4)
    target[1, 0, 1, 1] = 1  # image 0: both empty; image 1: nothing predicted, one pixel missed

    dice, iou = dice_iou_from_counts(*confusion_per_image(as_logits(empty), target))

    assert dice.tolist() == [1.0, 0.0]
    assert iou.tolist() == [1.0, 0.0]


def test_meter_reports_per_image_mean_and_whole_set_metrics_that_differ():
    # Image A: pred = target = all 16 px -> tp=16: Dice 1, IoU 1.
    # Image B: pred empty, target 1 px   -> fn=1:  Dice 0, IoU 0.
    # Per-image mean: Dice 0.5, IoU 0.5.
    # Whole set: tp=16, fp=0, fn=1 -> Dice 32/33, IoU 16/17.
    target = torch.zeros(2, 1, 4, 4)
    target[0] = 1
    target[1, 0, 2, 3] = 1
    prediction = torch.zeros(2, 1, 4, 4)
    prediction[0] = 1

    meter = SegmentationMeter()
    # One image per update: the meter must accumulate across batches.
    meter.update(as_logits(prediction[:1]), target[:1])
    meter.update(as_logits(prediction[1:]), target[1:])
    metrics = meter.compute()

    assert metrics["images"] == 2
    assert metrics["dice"] == pytest.approx(0.5)
    assert metrics["iou"] == pytest.approx(0.5)
    assert metrics["dice_micro"] == pytest.approx(32 / 33)
    assert metrics["iou_micro"] == pytest.approx(16 / 17)
    dice, iou = meter.per_image()
    assert dice.tolist() == [1.0, 0.0]
    assert iou.tolist() == [1.0, 0.0]


def test_meter_accepts_bf16_logits_and_reset_forgets():
    target = torch.zeros(1, 1, 4, 4)
    target[..., :3, :] = 1
    prediction = torch.zeros(1, 1, 4, 4)
    prediction[..., :2, :] = 1

    meter = SegmentationMeter()
    meter.update(as_logits(prediction).bfloat16(), target)
    assert meter.compute()["dice"] == pytest.approx(0.8)

    meter.reset()
    assert meter.compute()["images"] == 0


def _random_batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 16, 16)
    target = (torch.rand(2, 1, 16, 16) > 0.5).float()
    return logits, target


def test_bce_loss_equals_torch_bce_with_logits():
    logits, target = _random_batch()
    expected = F.binary_cross_entropy_with_logits(logits, target)
    assert torch.allclose(build_loss("bce")(logits, target), expected)


def test_dice_loss_is_near_zero_when_right_and_near_one_when_inverted():
    target = torch.zeros(2, 1, 32, 32)
    target[..., :16, :] = 1  # half the image, 512 px: inverted gives Dice 1/1025

    dice_loss = build_loss("dice")

    assert dice_loss(as_logits(target), target).item() < 1e-3
    assert dice_loss(as_logits(1 - target), target).item() > 0.99


def test_bce_plus_dice_is_their_sum():
    logits, target = _random_batch()
    combined = build_loss("bce+dice")(logits, target)
    expected = build_loss("bce")(logits, target) + build_loss("dice")(logits, target)
    assert torch.allclose(combined, expected)


def float64_loss(name: str, logits: torch.Tensor, target: torch.Tensor) -> float:
    """The loss written out independently in float64: BCE = mean(max(x, 0) - x t + log(1 + e^-|x|)),
    soft Dice = 1 - mean over images of (2 sum(p t) + 1) / (sum p + sum t + 1) with p = sigmoid(x)."""
    x, t = logits.detach().double().flatten(1), target.double().flatten(1)
    bce = (x.clamp(min=0) - x * t + torch.log1p(torch.exp(-x.abs()))).mean()
    p = torch.sigmoid(x)
    dice = 1 - ((2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    return {"bce": bce, "dice": dice, "bce+dice": bce + dice}[name].item()


@pytest.mark.parametrize("name", BINARY_LOSSES)
def test_losses_of_bf16_autocast_logits_match_a_float64_computation(name):
    logits, target = _random_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a bf16 forward's output, as the model gives it
        bf16_logits = F.conv2d(logits, torch.ones(1, 1, 1, 1)).requires_grad_()
    assert bf16_logits.dtype == torch.bfloat16

    # Called after the autocast block, as engine.train and engine.evaluate do.
    from_bf16 = build_loss(name)(bf16_logits, target)

    assert from_bf16.dtype == torch.float32 and from_bf16.dim() == 0
    # Same inputs (the bf16 logits), exact arithmetic: fp32 sums of 512 pixels stay within 1e-5 of
    # float64, while doing the sigmoid, log or sums in bf16 (8-bit mantissa) is off by ~1e-3 or more.
    assert from_bf16.item() == pytest.approx(float64_loss(name, bf16_logits, target), abs=1e-5)


def test_unknown_loss_name_error_lists_known_names():
    with pytest.raises(ConfigError) as caught:
        build_loss("focal")
    for name in BINARY_LOSSES:
        assert name in str(caught.value)
