"""seglab's residual blocks are torchvision's: the same parameter names and shapes, and bit for bit the same
outputs and gradients from the same weights, in training and in eval mode."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models import resnet as torchvision_resnet

from core.models import resnet_blocks


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


@pytest.mark.parametrize("name", ["BasicBlock", "Bottleneck"])
@pytest.mark.parametrize("stride", [1, 2])
def test_a_block_matches_torchvisions_from_the_same_weights(name, stride):
    torch.manual_seed(0)
    theirs_type, ours_type = getattr(torchvision_resnet, name), getattr(resnet_blocks, name)
    assert ours_type.expansion == theirs_type.expansion
    in_channels, planes = 12, 8
    out_channels = planes * ours_type.expansion
    downsample = shortcut(in_channels, out_channels, stride) if stride != 1 or in_channels != out_channels else None
    theirs = theirs_type(in_channels, planes, stride, downsample)
    for module in theirs.modules():  # running statistics and affine terms away from their defaults
        if isinstance(module, nn.BatchNorm2d):
            for tensor in (module.weight, module.bias, module.running_mean):
                tensor.data.normal_()
            module.running_var.data.uniform_(0.5, 2.0)
    ours = ours_type(in_channels, planes, stride, copy.deepcopy(downsample))

    assert {key: value.shape for key, value in ours.state_dict().items()} == {
        key: value.shape for key, value in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    for train in (False, True):
        theirs.train(train), ours.train(train)
        inputs = torch.randn(2, in_channels, 16, 12)
        their_inputs, our_inputs = inputs.clone().requires_grad_(), inputs.clone().requires_grad_()
        their_out, our_out = theirs(their_inputs), ours(our_inputs)
        assert torch.equal(our_out, their_out)
        their_out.square().sum().backward()
        our_out.square().sum().backward()
        assert torch.equal(our_inputs.grad, their_inputs.grad)
        assert torch.equal(ours.conv1.weight.grad, theirs.conv1.weight.grad)
