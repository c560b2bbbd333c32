"""Multi-class losses checked against hand computations on 2-3 pixels: class-weighted cross-entropy, soft Dice over
the foreground classes, ignored pixels that change nothing, and the class-weight helpers (parsing, auto weights)."""

from __future__ import annotations

import math

import pytest
import torch

from core.errors import ConfigError
from core.losses.multiclass import CEDiceLoss, CrossEntropyLoss, MulticlassSoftDiceLoss
from core.losses.weights import inverse_sqrt_frequency, parse_class_weights

IGNORE = 255
LN2 = math.log(2)


def pixels(*logits: list[float]) -> torch.Tensor:
    """Logits 1 x C x 1 x P from one list of C class logits per pixel."""
    return torch.tensor(logits, dtype=torch.float32).T.reshape(1, len(logits[0]), 1, len(logits))


# Three pixels, 3 classes: logits [1,0,0] target 0, [0,1,0] target 2, [0,0,0] target 1.
CE_LOGITS = pixels([1, 0, 0], [0, 1, 0], [0, 0, 0])
CE_TARGET = torch.tensor([[[0, 2, 1]]])
# nll = -log softmax[target]:  log(e+2) - 1 = 0.5514,  log(e+2) = 1.5514,  log 3 = 1.0986
NLL = [math.log(math.e + 2) - 1, math.log(math.e + 2), math.log(3)]


def test_class_weighted_cross_entropy_is_the_weighted_mean_of_the_pixels_nll():
    # weights [0.5, 2, 1]; pixel weights by target class: 0.5, 1, 2
    # (0.5*0.5514 + 1*1.5514 + 2*1.0986) / (0.5 + 1 + 2) = 4.0243 / 3.5 = 1.1498 (unweighted mean 1.0672)
    weight = torch.tensor([0.5, 2.0, 1.0])
    expected = (0.5 * NLL[0] + 1 * NLL[1] + 2 * NLL[2]) / 3.5

    assert CrossEntropyLoss(weight).forward(CE_LOGITS, CE_TARGET).item() == pytest.approx(expected, rel=1e-6)
    assert CrossEntropyLoss().forward(CE_LOGITS, CE_TARGET).item() == pytest.approx(sum(NLL) / 3, rel=1e-6)
    assert expected != pytest.approx(sum(NLL) / 3)


def test_cross_entropy_leaves_ignored_pixels_out_whatever_their_logits():
    # a 4th pixel marked ignored: the weighted mean stays over the first three
    weight = torch.tensor([0.5, 2.0, 1.0])
    target = torch.tensor([[[0, 2, 1, IGNORE]]])
    loss = CrossEntropyLoss(weight, ignore_index=IGNORE)
    first = loss(pixels([1, 0, 0], [0, 1, 0], [0, 0, 0], [5, 0, 0]), target)
    second = loss(pixels([1, 0, 0], [0, 1, 0], [0, 0, 0], [0, -3, 9]), target)

    assert first.item() == pytest.approx((0.5 * NLL[0] + 1 * NLL[1] + 2 * NLL[2]) / 3.5, rel=1e-6)
    assert torch.equal(first, second)


# Two pixels, 3 classes, logits chosen so softmax is in quarters:
#   pixel 0 logits [0, ln2, 0] -> exp [1, 2, 1] / 4 -> p = [1/4, 1/2, 1/4], target class 1
#   pixel 1 logits [0, 0, ln2] -> p = [1/4, 1/4, 1/2],                       target class 0
DICE_LOGITS = pixels([0, LN2, 0], [0, 0, LN2])
DICE_TARGET = torch.tensor([[[1, 0]]])
# smooth 1; class 1: sum(p*t) = 1/2, sum p = 3/4, sum t = 1 -> (2*1/2 + 1) / (3/4 + 1 + 1) = 2/2.75 = 8/11
#           class 2: sum(p*t) = 0,   sum p = 3/4, sum t = 0 -> (0 + 1) / (3/4 + 0 + 1) = 4/7
# loss = 1 - (8/11 + 4/7) / 2 = 27/77 = 0.3506. With background (class 0: (2*1/4 + 1) / (1/2 + 1 + 1) = 3/5)
# it would be 1 - (8/11 + 4/7 + 3/5) / 3 = 0.3671.
DICE_LOSS = 27 / 77


def test_soft_dice_loss_averages_the_foreground_classes_dice_of_softmax_probabilities():
    loss = MulticlassSoftDiceLoss().forward(DICE_LOGITS, DICE_TARGET)

    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(DICE_LOSS, rel=1e-6)
    assert loss.item() != pytest.approx(1 - (8 / 11 + 4 / 7 + 3 / 5) / 3, rel=1e-3)


def test_soft_dice_loss_leaves_ignored_pixels_out_whatever_their_logits():
    target = torch.tensor([[[1, 0, IGNORE]]])
    loss = MulticlassSoftDiceLoss(ignore_index=IGNORE)
    first = loss(pixels([0, LN2, 0], [0, 0, LN2], [0, 0, 8]), target)
    second = loss(pixels([0, LN2, 0], [0, 0, LN2], [3, -2, 0]), target)

    assert first.item() == pytest.approx(DICE_LOSS, rel=1e-6)
    assert torch.equal(first, second)


def test_soft_dice_loss_is_the_mean_of_each_images_loss_not_pooled_over_the_batch():
    other_logits = pixels([4, 0, 0], [0, 0, 3])
    other_target = torch.tensor([[[2, 2]]])
    loss = MulticlassSoftDiceLoss()
    alone = (loss(DICE_LOGITS, DICE_TARGET) + loss(other_logits, other_target)) / 2

    together = loss(torch.cat([DICE_LOGITS, other_logits]), torch.cat([DICE_TARGET, other_target]))

    assert together.item() == pytest.approx(alone.item(), rel=1e-6)


def test_soft_dice_loss_refuses_a_single_class():
    with pytest.raises(ValueError, match="at least 2 classes"):
        MulticlassSoftDiceLoss()(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.int64))


def test_ce_dice_loss_is_the_sum_and_computes_bf16_logits_in_fp32():
    weight = torch.tensor([0.5, 2.0, 1.0])
    logits = pixels([0, LN2, 0], [0, 0, LN2], [0, 0, 8])
    target = torch.tensor([[[1, 0, IGNORE]]])
    both = CEDiceLoss(weight, ignore_index=IGNORE)(logits, target)
    parts = CrossEntropyLoss(weight, IGNORE)(logits, target) + MulticlassSoftDiceLoss(IGNORE)(logits, target)
    assert both.item() == pytest.approx(parts.item(), rel=1e-6)

    in_bf16 = CEDiceLoss(weight, ignore_index=IGNORE)(logits.to(torch.bfloat16), target)
    assert in_bf16.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: the logits (not the loss) are rounded, so the two agree to about 1%
    assert in_bf16.item() == pytest.approx(both.item(), rel=1e-2)


def test_inverse_sqrt_frequency_weights_match_hand_computation():
    # counts [75, 20, 5] of 100: 1/sqrt(.75) = 1.154701, 1/sqrt(.2) = 2.236068, 1/sqrt(.05) = 4.472136;
    # sum 7.862905, scaled by 3 / 7.862905 = 0.381538 -> [0.440563, 0.853146, 1.706292], mean 1 (a class with
    # a quarter of another's share weighs twice as much: 1.706292 = 2 * 0.853146)
    weights = inverse_sqrt_frequency([75, 20, 5])
    assert weights == pytest.approx([0.440563, 0.853146, 1.706292], abs=1e-6)
    assert sum(weights) / 3 == pytest.approx(1.0)
    assert inverse_sqrt_frequency(torch.tensor([75, 20, 5])) == pytest.approx(weights)

    # counts [75, 25, 0]: present 1/sqrt(.75) = 1.154701, 1/sqrt(.25) = 2; scale 2 / 3.154701 = 0.633975
    # -> [0.732051, 1.267949], and the absent class takes the largest of those, 1.267949
    assert inverse_sqrt_frequency([75, 25, 0]) == pytest.approx([0.732051, 1.267949, 1.267949], abs=1e-6)


def test_inverse_sqrt_frequency_refuses_all_zero_counts():
    with pytest.raises(ValueError, match="0 pixels"):
        inverse_sqrt_frequency([0, 0, 0])


def test_parse_class_weights_reads_the_list_and_leaves_empty_and_auto_to_the_caller():
    assert parse_class_weights("", 3) is None
    assert parse_class_weights("auto", 3) is None
    assert parse_class_weights("1, 2.5,0.5", 3) == [1.0, 2.5, 0.5]


@pytest.mark.parametrize(("text", "message"), [
    ("1,2", "class_weights: 2 weights given for 3 classes"),
    ("1,2,3,4", "class_weights: 4 weights given for 3 classes"),
    ("1,heavy,3", "class_weights: 'heavy' is not a number"),
    ("1,-2,3", "class_weights: '-2' must be a finite number >= 0"),
    ("1,inf,3", "class_weights: 'inf' must be a finite number >= 0"),
    ("1,nan,3", "class_weights: 'nan' must be a finite number >= 0"),
])
def test_parse_class_weights_refuses_bad_lists_in_one_line(text, message):
    with pytest.raises(ConfigError) as raised:
        parse_class_weights(text, 3)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
