"""Training losses by name: the registry every loss choice comes from (config, CLI, form) and `build_loss`.
Importing this package does not import torch; a loss's module loads when it is built."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

LOSSES: dict[str, str] = {
    "bce": "binary cross-entropy on logits (the original experiment)",
    "dice": "1 - soft Dice of the probabilities, per image (multiclass: softmax, mean over foreground classes)",
    "bce+dice": "their sum: every pixel gets a gradient, Dice counters the background majority",
    "ce": "softmax cross-entropy over the classes, optionally class-weighted (multiclass)",
    "ce+dice": "cross-entropy plus the multi-class soft Dice (multiclass)",
}
LOSS_NAMES = tuple(LOSSES)
# Which losses each task trains with; the first is its default.
LOSSES_FOR_TASK: dict[str, tuple[str, ...]] = {"binary": ("bce", "dice", "bce+dice"),
                                               "multiclass": ("ce", "dice", "ce+dice")}


def build_loss(name: str, task: str = "binary", class_weights: Sequence[float] | None = None,
               ignore_index: int = -1) -> nn.Module:
    """The loss called `name` for `task`; class weights and the ignored mask value apply to multiclass only."""
    if name not in LOSSES_FOR_TASK.get(task, ()):
        known = ", ".join(LOSSES_FOR_TASK.get(task, LOSS_NAMES))
        raise ConfigError(f"unknown {task} loss {name!r}; known {task} losses: {known}")
    if task == "binary":
        from core.losses.binary import BCEDiceLoss, BinaryCrossEntropyLoss, SoftDiceLoss

        return {"bce": BinaryCrossEntropyLoss, "dice": SoftDiceLoss, "bce+dice": BCEDiceLoss}[name]()
    import torch

    from core.losses.multiclass import CEDiceLoss, CrossEntropyLoss, MulticlassSoftDiceLoss

    weight = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights is not None else None
    if name == "dice":
        return MulticlassSoftDiceLoss(ignore_index=ignore_index)
    return (CrossEntropyLoss if name == "ce" else CEDiceLoss)(weight=weight, ignore_index=ignore_index)
