"""Every registered loss has a complete LossSpec: a task it serves, a class that builds from it, a description, and
the run settings it takes; a task's loss list and the config's loss choices are read from the registry."""

from __future__ import annotations

import pytest
import torch

from core.config import TrainConfig, field_spec
from core.errors import ConfigError
from core.losses import LOSS_NAMES, LOSS_SPECS, LOSSES_FOR_TASK, build_loss, loss_spec
from core.losses.multiclass import CrossEntropyLoss

SIZE = 12


def batch_for(task: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if task == "binary":
        return torch.randn(2, 1, SIZE, SIZE, generator=generator), torch.randint(0, 2, (2, 1, SIZE, SIZE),
                                                                               generator=generator).float()
    target = torch.randint(0, 3, (2, SIZE, SIZE), generator=generator)
    target[0, 0, :4] = 255  # ignored pixels
    return torch.randn(2, 3, SIZE, SIZE, generator=generator), target


@pytest.mark.parametrize("spec", LOSS_SPECS, ids=lambda spec: f"{spec.task}-{spec.name}")
def test_every_registered_loss_builds_and_gives_a_finite_scalar_with_a_gradient(spec):
    assert spec.task in LOSSES_FOR_TASK and spec.description and set(spec.takes) <= {"weight", "ignore_index"}
    loss_fn = build_loss(spec.name, spec.task, [1.0, 2.0, 3.0] if "weight" in spec.takes else None, 255)
    logits, target = batch_for(spec.task)
    logits.requires_grad_(True)
    loss = loss_fn(logits, target)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    if "ignore_index" in spec.takes:  # the logits at ignored pixels change nothing
        changed = logits.detach().clone()
        changed[0, :, 0, :4] += 5
        assert loss_fn(changed, target).item() == pytest.approx(loss.item(), abs=1e-6)


def test_the_run_settings_reach_the_losses_that_take_them():
    ce = build_loss("ce", "multiclass", [1.0, 2.0, 3.0], ignore_index=255)
    assert isinstance(ce, CrossEntropyLoss) and ce.weight.tolist() == [1.0, 2.0, 3.0] and ce.ignore_index == 255


def test_a_tasks_losses_and_the_configs_choices_come_from_the_registry():
    assert LOSSES_FOR_TASK == {"binary": ("bce", "dice", "bce+dice"), "multiclass": ("ce", "dice", "ce+dice")}
    assert field_spec("loss").choices == LOSS_NAMES == ("bce", "dice", "bce+dice", "ce", "ce+dice")
    assert TrainConfig().loss == LOSSES_FOR_TASK["binary"][0]


def test_a_loss_of_the_other_task_is_refused_naming_the_tasks_losses():
    assert loss_spec("dice", "multiclass").implementation.endswith("MulticlassSoftDiceLoss")
    with pytest.raises(ConfigError, match=r"unknown binary loss 'ce'; known binary losses: bce, dice, bce\+dice"):
        build_loss("ce", "binary")
