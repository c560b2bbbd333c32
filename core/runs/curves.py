"""curves.png: loss (train/val) and validation Dice per epoch, drawn with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path

from core.runs.events import EpochEvent


def plot_curves(epochs: list[EpochEvent], path: Path) -> Path | None:
    """Draw the epoch history to `path`; returns None when there is no epoch to draw."""
    if not epochs:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on SSH boxes and in CI
    from matplotlib.figure import Figure

    x = [e.epoch for e in epochs]
    fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    loss_ax, dice_ax = fig.subplots(1, 2)
    loss_ax.plot(x, [e.train_loss for e in epochs], marker="o", label="train loss")
    loss_ax.plot(x, [e.val_loss for e in epochs], marker="o", label="val loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_title("loss")
    loss_ax.legend()
    dice_ax.plot(x, [e.val_dice for e in epochs], marker="o", color="tab:green", label="val Dice")
    dice_ax.plot(x, [e.val_iou for e in epochs], marker=".", color="tab:olive", label="val IoU")
    best = max(epochs, key=lambda e: e.val_dice)
    dice_ax.annotate(f"best {best.val_dice:.3f}", (best.epoch, best.val_dice), textcoords="offset points",
                     xytext=(-20, -16))
    dice_ax.set_xlabel("epoch")
    dice_ax.set_title("validation (per-image mean)")
    dice_ax.legend()
    for ax in (loss_ax, dice_ax):
        ax.grid(alpha=0.3)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    tmp.replace(path)
    return path
