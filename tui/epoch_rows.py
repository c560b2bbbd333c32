"""An epoch's row as every view shows it (the live screen's table, `seglab train`'s table and plain lines):
the columns and their formats in one place. Which epoch is best comes from the engine, in the event."""

from __future__ import annotations

from core.runs.events import EpochEvent

EPOCH_COLUMNS = ("EP", "TRAIN LOSS", "VAL LOSS", "VAL DICE", "IOU", "LR", "SEC")
EPOCH_WIDTHS = {"EP": 5, "TRAIN LOSS": 10, "VAL LOSS": 8, "VAL DICE": 8, "IOU": 6, "LR": 7, "SEC": 5}
BEST_MARK = "★"


def epoch_cells(event: EpochEvent, of_epochs: bool = False) -> tuple[str, ...]:
    """The row's cells in EPOCH_COLUMNS order; the epoch is starred when it was the best so far."""
    number = f"{event.epoch}/{event.epochs}" if of_epochs else str(event.epoch)
    return (f"{number}{BEST_MARK if event.is_best else ''}", f"{event.train_loss:.4f}", f"{event.val_loss:.4f}",
            f"{event.val_dice:.4f}", f"{event.val_iou:.4f}", f"{event.lr:.1e}", f"{event.seconds:.0f}")


def epoch_line(event: EpochEvent) -> str:
    """One plain line per epoch, for logs and pipes."""
    epoch, train_loss, val_loss, dice, iou, lr, seconds = epoch_cells(event, of_epochs=True)
    return (f"epoch {epoch}  train loss {train_loss}  val loss {val_loss}  val Dice {dice}  IoU {iou}  lr {lr}  "
            f"{seconds} s")
