"""Multi-class Dice/IoU checked against hand-counted 2x3 masks: per-class counts, the confusion matrix, absent
classes skipped rather than scored 1, ignored pixels counted nowhere, per-image vs whole-set means, and merging."""

from __future__ import annotations

import json
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from core.class_metrics import (
    ClassSegmentationMeter,
    class_counts,
    confusion_matrix,
    image_class_scores,
    scores_from_counts,
)

IGNORE = 255


def as_logits(prediction: list, classes: int = 3) -> torch.Tensor:
    """Logits N x C x H x W whose argmax is `prediction` (N x H x W class ids): one-hot * 10."""
    return F.one_hot(torch.tensor(prediction), classes).permute(0, 3, 1, 2).float() * 10


def is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


# (true, predicted) pixel by pixel: (0,0) (1,1) (2,1) / (2,2) (0,2) (0,0)
PREDICTION = [[[0, 1, 1], [2, 2, 0]]]
TARGET = [[[0, 1, 2], [2, 0, 0]]]


def test_per_class_counts_matrix_and_scores_of_a_2x3_mask_match_hand_count():
    # class 0: tp=2 (both (0,0)), fp=0, fn=1 (0 predicted 2)   Dice 4/5,  IoU 2/3
    # class 1: tp=1, fp=1 (2 predicted 1), fn=0                 Dice 2/3,  IoU 1/2
    # class 2: tp=1, fp=1 (0 predicted 2), fn=1 (2 predicted 1) Dice 2/4,  IoU 1/3
    # matrix rows = true: [2,0,1] [0,1,0] [0,1,1]; pixel accuracy = trace 4 / 6
    logits, target = as_logits(PREDICTION), torch.tensor(TARGET)

    counts = class_counts(logits, target, 3)
    assert counts.dtype == torch.int64 and counts.shape == (1, 3, 3)
    assert counts[0].tolist() == [[2, 0, 1], [1, 1, 0], [1, 1, 1]]
    matrix = confusion_matrix(logits, target, 3)
    assert matrix.dtype == torch.int64 and matrix.tolist() == [[2, 0, 1], [0, 1, 0], [0, 1, 1]]
    dice, iou = image_class_scores(counts[0])
    assert dice == pytest.approx([4 / 5, 2 / 3, 1 / 2]) and iou == pytest.approx([2 / 3, 1 / 2, 1 / 3])

    meter = ClassSegmentationMeter(3)
    meter.update(logits, target)
    result = meter.compute()
    assert result["class_dice"] == pytest.approx([4 / 5, 2 / 3, 1 / 2])
    assert result["dice"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # foreground only: 7/12
    assert result["iou"] == pytest.approx((1 / 2 + 1 / 3) / 2)  # 5/12
    assert result["dice_all"] == pytest.approx((4 / 5 + 2 / 3 + 1 / 2) / 3)  # background included: 59/90
    assert result["iou_all"] == pytest.approx((2 / 3 + 1 / 2 + 1 / 3) / 3)  # 1/2
    assert result["pixel_accuracy"] == pytest.approx(4 / 6)
    assert result["confusion_matrix"] == [[2, 0, 1], [0, 1, 0], [0, 1, 1]]
    assert result["images"] == 1


# Two images, 4 classes; class 2 is absent from image 0 (truth and prediction), class 3 from both images.
# image 0: class 1 truth at (0,1),(0,2), predicted at (0,1) only: tp=1, fn=1 -> Dice 2/3, IoU 1/2; class 2 NaN
# image 1: class 1 truth = prediction = (1,0): Dice 1, IoU 1; class 2 truth (0,0),(0,1), predicted (0,0):
#          tp=1, fn=1 -> Dice 2/3, IoU 1/2
TWO_PREDICTIONS = [[[0, 1, 0], [0, 0, 0]], [[2, 0, 0], [1, 0, 0]]]
TWO_TARGETS = [[[0, 1, 1], [0, 0, 0]], [[2, 2, 0], [1, 0, 0]]]


def two_image_meter() -> ClassSegmentationMeter:
    meter = ClassSegmentationMeter(4)
    meter.update(as_logits(TWO_PREDICTIONS, 4), torch.tensor(TWO_TARGETS))
    return meter


def test_a_class_absent_from_an_image_is_skipped_not_scored_one():
    result = two_image_meter().compute()
    counts = two_image_meter().counts()
    absent_dice, _ = scores_from_counts(counts[0, 2, 0], counts[0, 2, 1], counts[0, 2, 2])
    assert math.isnan(absent_dice.item())  # (0, 0, 0): nothing to score

    # class 1: mean(2/3, 1) = 5/6; class 2: only image 1 counts -> 2/3 (scored 1 in image 0 it would be 5/6)
    assert result["class_dice"][1:3] == pytest.approx([5 / 6, 2 / 3])
    assert result["class_iou"][1:3] == pytest.approx([3 / 4, 1 / 2])
    assert is_nan(result["class_dice"][3]) and is_nan(result["class_iou"][3])  # absent from every image
    # headline over foreground classes present: (5/6 + 2/3) / 2 = 3/4. Counting absent as 1 would give
    # (5/6 + 5/6 + 1) / 3 = 8/9, and class 3 as 0 would give (5/6 + 2/3 + 0) / 3 = 1/2.
    assert result["dice"] == pytest.approx(3 / 4)
    assert result["dice"] != pytest.approx(8 / 9)
    assert result["iou"] == pytest.approx((3 / 4 + 1 / 2) / 2)


def test_whole_set_micro_scores_differ_from_the_per_image_mean():
    # class 1 counts: image 0 (tp 1, fp 0, fn 1), image 1 (1, 0, 0) -> summed (2, 0, 1):
    #   micro Dice 4/5 and IoU 2/3, against the per-image means 5/6 and 3/4.
    # class 2 counts: image 0 (0, 0, 0), image 1 (1, 0, 1) -> (1, 0, 1): Dice 2/3, IoU 1/2, the same either way.
    # class 0 summed: tp 4+3=7, fp 1+1=2 (a 1 and a 2 predicted 0), fn 0 -> Dice 14/16, IoU 7/9; class 3 all 0: NaN
    result = two_image_meter().compute()
    assert result["class_dice_micro"][:3] == pytest.approx([14 / 16, 4 / 5, 2 / 3])
    assert result["class_iou_micro"][:3] == pytest.approx([7 / 9, 2 / 3, 1 / 2])
    assert is_nan(result["class_dice_micro"][3]) and is_nan(result["class_iou_micro"][3])
    assert result["dice_micro"] == pytest.approx((4 / 5 + 2 / 3) / 2)  # 11/15, per-image headline 3/4
    assert result["iou_micro"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # 7/12, per-image headline 5/8
    assert result["dice"] == pytest.approx(3 / 4)


def test_ignored_pixels_are_left_out_of_counts_matrix_and_accuracy_whatever_is_predicted_there():
    # target 0 1 X    prediction 0 1 2    counted (true, predicted): (0,0) (1,1) (2,2) (0,1); X = ignored
    #        2 X 0               2 1 1
    # class 0: tp 1, fp 0, fn 1; class 1: tp 1, fp 1, fn 0; class 2: tp 1, fp 0, fn 0
    # matrix [1,1,0] [0,1,0] [0,0,1]: 4 pixels counted, accuracy 3/4 (3/6 if the ignored ones counted as wrong)
    target = torch.tensor([[[0, 1, IGNORE], [2, IGNORE, 0]]])
    logits = as_logits([[[0, 1, 2], [2, 1, 1]]])
    other_logits = as_logits([[[0, 1, 0], [2, 2, 1]]])  # differs only where ignored

    for predicted in (logits, other_logits):
        assert class_counts(predicted, target, 3, IGNORE)[0].tolist() == [[1, 0, 1], [1, 1, 0], [1, 0, 0]]
        assert confusion_matrix(predicted, target, 3, IGNORE).tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
        meter = ClassSegmentationMeter(3, ignore_index=IGNORE)
        meter.update(predicted, target)
        assert meter.compute()["pixel_accuracy"] == pytest.approx(3 / 4)


def test_merging_two_meters_states_equals_one_meter_seeing_every_image():
    first, second = ClassSegmentationMeter(4), ClassSegmentationMeter(4)
    first.update(as_logits(TWO_PREDICTIONS[:1], 4), torch.tensor(TWO_TARGETS[:1]))
    second.update(as_logits(TWO_PREDICTIONS[1:], 4), torch.tensor(TWO_TARGETS[1:]))
    sent = pickle.loads(pickle.dumps(second.state()))  # what another process sends

    first.merge(sent)

    # JSON text compares NaN equal to NaN and proves the result serialises.
    assert json.dumps(first.compute()) == json.dumps(two_image_meter().compute())
    assert first.compute()["images"] == 2


def test_bf16_logits_give_the_same_counts_as_their_fp32_values():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=generator).to(torch.bfloat16)
    target = torch.randint(0, 3, (2, 4, 5), generator=generator)

    assert torch.equal(class_counts(logits, target, 3), class_counts(logits.float(), target, 3))
    meter = ClassSegmentationMeter(3)
    meter.update(logits, target)
    assert meter.counts().tolist() == class_counts(logits.float(), target, 3).tolist()


def test_a_meter_with_no_images_reports_nan_and_zero_images():
    result = ClassSegmentationMeter(3).compute()

    assert result["images"] == 0
    for key in ("dice", "iou", "dice_micro", "iou_micro", "dice_all", "iou_all", "pixel_accuracy"):
        assert is_nan(result[key]), key
    for key in ("class_dice", "class_iou", "class_dice_micro", "class_iou_micro"):
        assert len(result[key]) == 3 and all(is_nan(value) for value in result[key]), key
    assert result["confusion_matrix"] == [[0, 0, 0]] * 3


def test_reset_forgets_the_images_seen():
    meter = two_image_meter()
    meter.reset()
    assert meter.compute()["images"] == 0 and meter.compute()["confusion_matrix"] == [[0] * 4] * 4
