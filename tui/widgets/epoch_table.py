"""One row per finished epoch: losses, val Dice/IoU (per-image means), lr, seconds; the best row starred."""

from __future__ import annotations

from textual.widgets import DataTable

from core.events import EpochEvent

# fixed widths: rows that arrive before the first layout must not be drawn at header width
COLUMNS = {"EP": 5, "TRAIN LOSS": 10, "VAL LOSS": 8, "VAL DICE": 8, "IOU": 6, "LR": 7, "SEC": 5}


class EpochTable(DataTable):
    """Epoch history; DataTable draws only the visible rows, so long histories stay cheap."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.best_epoch: int | None = None
        self.best_dice = -1.0

    def on_mount(self) -> None:
        for label, width in COLUMNS.items():
            self.add_column(label, key=label, width=width)

    def set_epochs(self, epochs: list[EpochEvent]) -> None:
        self.clear()
        self.best_epoch, self.best_dice = None, -1.0
        for epoch in epochs:
            self.add_epoch(epoch, scroll=False)
        self.scroll_end(animate=False)

    def add_epoch(self, epoch: EpochEvent, scroll: bool = True) -> None:
        key = str(epoch.epoch)
        if key in self.rows:  # a resumed run may repeat an epoch it had not finished: keep the newer
            self.remove_row(key)
        is_best = epoch.val_dice > self.best_dice
        self.add_row(*self._cells(epoch, is_best), key=key)
        if is_best:
            previous = self.best_epoch
            if previous is not None and previous != epoch.epoch and str(previous) in self.rows:
                self.update_cell(str(previous), "EP", str(previous))
            self.best_epoch, self.best_dice = epoch.epoch, epoch.val_dice
        if scroll:
            self.scroll_end(animate=False)

    @staticmethod
    def _cells(e: EpochEvent, best: bool) -> tuple[str, ...]:
        return (f"{e.epoch}{'★' if best else ''}", f"{e.train_loss:.4f}", f"{e.val_loss:.4f}",
                f"{e.val_dice:.4f}", f"{e.val_iou:.4f}", f"{e.lr:.1e}", f"{e.seconds:.0f}")
