"""One row per finished epoch: losses, val Dice/IoU (per-image means), lr, seconds; the best row starred. A
multiclass run with few classes also shows each foreground class's val Dice beside the mean, in place of IoU, lr
and seconds (the table then takes the width it needs beside the curves: at 100 columns every column shows)."""

from __future__ import annotations

from textual.widgets import DataTable

from core.runs.events import EpochEvent
from tui.breakpoints import NARROW_BELOW  # below it the table is stacked above the curves
from tui.epoch_rows import BEST_MARK, class_columns, epoch_cells, epoch_columns

LEFT_OUT_FOR_CLASSES = ("IOU", "LR", "SEC")  # the per-class Dice say more in their room (the header times epochs)
SIDE_PANE = 30  # columns left for the curves and log beside a multiclass table


class EpochTable(DataTable):
    """Epoch history; DataTable draws only the visible rows, so long histories stay cheap. The star follows the
    engine's best epoch (EpochEvent.is_best): only the latest best row keeps it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.best_epoch: int | None = None
        self.classes: tuple[str, ...] = ()  # the foreground classes with a column of their own
        self.keys: list[str] = []  # the columns shown, in order
        self.needed_width: int | None = None  # a multiclass table's own width

    def on_mount(self) -> None:
        self.add_columns_for(())

    def add_columns_for(self, classes: tuple[str, ...]) -> None:
        # fixed widths: rows that arrive before the first layout must not be drawn at header width
        self.classes = classes
        columns = [column for column in epoch_columns(classes) if not (classes and column[0] in LEFT_OUT_FOR_CLASSES)]
        self.keys = [key for key, _, _ in columns]
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)
        # as wide as its columns (cell padding and the scrollbar too), the curves beside taking the rest
        self.needed_width = sum(width + 2 for _, _, width in columns) + 2 if classes else None
        self.fit_width()

    def fit_width(self) -> None:
        """A multiclass table beside the curves takes the width its columns need; stacked above them (a terminal
        under NARROW_BELOW columns) or binary, the stylesheet's width. Again on every resize of the terminal."""
        if self.needed_width is None or self.app.size.width < NARROW_BELOW:
            self.styles.width = None
        else:
            self.styles.width = min(self.needed_width, max(self.app.size.width - SIDE_PANE, 40))

    def set_epochs(self, epochs: list[EpochEvent]) -> None:
        self.clear()
        self.best_epoch = None
        for epoch in epochs:
            self.add_epoch(epoch, scroll=False)
        self.scroll_end(animate=False)

    def add_epoch(self, epoch: EpochEvent, scroll: bool = True) -> None:
        classes = class_columns(epoch)
        if classes and not self.classes:
            # a multiclass run's first epoch: DataTable only appends columns, and the class columns go beside the
            # mean Dice, so the columns are laid out anew (no row is lost: a run's epochs all have its classes)
            self.clear(columns=True)
            self.add_columns_for(classes)
        key = str(epoch.epoch)
        if key in self.rows:  # a resumed run may repeat an epoch it had not finished: keep the newer
            self.remove_row(key)
        cells = dict(zip([key for key, _, _ in epoch_columns(classes)], epoch_cells(epoch), strict=True))
        self.add_row(*(cells[column] for column in self.keys), key=key)
        if epoch.is_best:
            previous = self.best_epoch
            if previous is not None and previous != epoch.epoch and str(previous) in self.rows:
                self.update_cell(str(previous), "EP", str(previous).removesuffix(BEST_MARK))
            self.best_epoch = epoch.epoch
        if scroll:
            self.scroll_end(animate=False)
