"""An epoch's row as every view shows it (the live screen's table, `seglab train`'s table and plain lines):
the columns and their formats in one place. Which epoch is best comes from the engine, in the event.
A multiclass run with few classes gets one narrow column per foreground class after the mean val Dice."""

from __future__ import annotations

from core.runs.events import EpochEvent

EPOCH_COLUMNS = ("EP", "TRAIN LOSS", "VAL LOSS", "VAL DICE", "IOU", "LR", "SEC")
EPOCH_WIDTHS = {"EP": 5, "TRAIN LOSS": 10, "VAL LOSS": 8, "VAL DICE": 8, "IOU": 6, "LR": 7, "SEC": 5}
BEST_MARK = "★"
MAX_CLASSES_AS_COLUMNS = 4  # background included; with more, the table stays readable without them
CLASS_WIDTH = 6  # "0.8123", and a class name cut to six letters
_AFTER = EPOCH_COLUMNS.index("VAL DICE") + 1  # where the class columns go: beside the mean they make up


def class_columns(event: EpochEvent) -> tuple[str, ...]:
    """The foreground classes the event's row shows a column each for: none for binary or for many classes."""
    if not 2 <= len(event.class_dice) <= MAX_CLASSES_AS_COLUMNS:
        return ()
    return tuple(event.class_dice)[1:]  # background first, then the classes the mean is over


def class_header(name: str) -> str:
    return name[:CLASS_WIDTH].upper()


def epoch_columns(classes: tuple[str, ...] = ()) -> list[tuple[str, str, int]]:
    """(key, header, width) of each column, for a table whose rows show `classes` (see class_columns). Keys
    stay unique whatever the class names."""
    base = [(label, label, EPOCH_WIDTHS[label]) for label in EPOCH_COLUMNS]
    extra = [(f"class:{name}", class_header(name), CLASS_WIDTH) for name in classes]
    return base[:_AFTER] + extra + base[_AFTER:]


def epoch_cells(event: EpochEvent, of_epochs: bool = False) -> tuple[str, ...]:
    """The row's cells in epoch_columns(class_columns(event)) order; the epoch is starred when it was the best
    so far."""
    number = f"{event.epoch}/{event.epochs}" if of_epochs else str(event.epoch)
    cells = (f"{number}{BEST_MARK if event.is_best else ''}", f"{event.train_loss:.4f}", f"{event.val_loss:.4f}",
             f"{event.val_dice:.4f}", f"{event.val_iou:.4f}", f"{event.lr:.1e}", f"{event.seconds:.0f}")
    classes = tuple(f"{event.class_dice[name]:.4f}" for name in class_columns(event))
    return cells[:_AFTER] + classes + cells[_AFTER:]


def class_dice_text(event: EpochEvent) -> str:
    """Each foreground class's val Dice, "pet 0.8100  border 0.5500" ("" for binary)."""
    return "  ".join(f"{name} {dice:.4f}" for name, dice in list(event.class_dice.items())[1:])


def epoch_line(event: EpochEvent) -> str:
    """One plain line per epoch, for logs and pipes; with few classes, each class's val Dice at the end."""
    cells = epoch_cells(event, of_epochs=True)
    epoch, train_loss, val_loss, dice = cells[:_AFTER]
    iou, lr, seconds = cells[-3:]
    per_class = f"  {class_dice_text(event)}" if class_columns(event) else ""
    return (f"epoch {epoch}  train loss {train_loss}  val loss {val_loss}  val Dice {dice}  IoU {iou}  lr {lr}  "
            f"{seconds} s{per_class}")
