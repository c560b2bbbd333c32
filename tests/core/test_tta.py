"""Flip test-time augmentation (core/inference/tta.py): a mirror-symmetric model is unchanged, others get both
views averaged."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.errors import ConfigError
from core.models.tta import predict_logits


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
