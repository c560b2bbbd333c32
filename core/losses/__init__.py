"""Training losses by name: the registry every loss choice comes from (config, CLI, form) and `build_loss`.
Adding a loss is one LossSpec here (and its class). Importing this package does not import torch; a loss's
module loads when it is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

TASKS_SERVED = ("binary", "multiclass")


@dataclass(frozen=True)
class LossSpec:
    """One loss of the registry for one task: its class (module:name), what the class takes from the run, and a
    line for help texts. A name may serve both tasks, with a class for each (dice)."""

    name: str
    task: str  # "binary" (one foreground logit) or "multiclass" (a logit per class, class-id targets)
    implementation: str  # "module:Class", imported when the loss is built
    description: str
    # the run's settings the class takes as keywords: "weight" (class weights), "ignore_index"
    takes: tuple[str, ...] = ()


_MULTICLASS = "core.losses.multiclass"
# In order: a task's first loss is its default.
LOSS_SPECS: tuple[LossSpec, ...] = (
    LossSpec("bce", "binary", "core.losses.binary:BinaryCrossEntropyLoss",
             "binary cross-entropy on logits (the original experiment)"),
    LossSpec("dice", "binary", "core.losses.binary:SoftDiceLoss", "1 - soft Dice of the probabilities, per image"),
    LossSpec("bce+dice", "binary", "core.losses.binary:BCEDiceLoss",
             "their sum: every pixel gets a gradient, Dice counters the background majority"),
    LossSpec("ce", "multiclass", f"{_MULTICLASS}:CrossEntropyLoss",
             "softmax cross-entropy over the classes, optionally class-weighted", ("weight", "ignore_index")),
    LossSpec("dice", "multiclass", f"{_MULTICLASS}:MulticlassSoftDiceLoss",
             "1 - soft Dice of the softmax probabilities, mean over the foreground classes", ("ignore_index",)),
    LossSpec("ce+dice", "multiclass", f"{_MULTICLASS}:CEDiceLoss",
             "cross-entropy plus the multi-class soft Dice", ("weight", "ignore_index")),
)
LOSSES: dict[tuple[str, str], LossSpec] = {(spec.task, spec.name): spec for spec in LOSS_SPECS}
LOSS_NAMES = tuple(dict.fromkeys(spec.name for spec in LOSS_SPECS))
# Which losses each task trains with; the first is its default.
LOSSES_FOR_TASK: dict[str, tuple[str, ...]] = {
    task: tuple(spec.name for spec in LOSS_SPECS if spec.task == task) for task in TASKS_SERVED}


def loss_spec(name: str, task: str = "binary") -> LossSpec:
    """The registry entry of `name` for `task`; an unknown one is one line listing the task's losses."""
    if (task, name) not in LOSSES:
        known = ", ".join(LOSSES_FOR_TASK.get(task, LOSS_NAMES))
        raise ConfigError(f"unknown {task} loss {name!r}; known {task} losses: {known}")
    return LOSSES[task, name]


def build_loss(name: str, task: str = "binary", class_weights: Sequence[float] | None = None,
               ignore_index: int = -1) -> nn.Module:
    """The loss called `name` for `task`; class weights and the ignored mask value go to the losses that take them."""
    spec = loss_spec(name, task)
    module, _, cls = spec.implementation.partition(":")
    options = {}
    if "weight" in spec.takes:
        import torch

        options["weight"] = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
    if "ignore_index" in spec.takes:
        options["ignore_index"] = ignore_index
    return getattr(import_module(module), cls)(**options)
