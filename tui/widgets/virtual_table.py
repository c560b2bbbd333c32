"""A table that draws only the rows on screen: replacing its rows is one list assignment, so a list of 5,000 runs
paints, scrolls and refreshes as fast as a list of ten (Textual's DataTable measures every cell of every row).
Looks and moves like a row-cursor DataTable: fixed head, zebra stripes, arrows, pages, home/end, enter, mouse."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text  # a str is shown as it is (no markup); a Text keeps its style


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None  # None: as wide as the widest cell
    right: bool = False  # right-aligned (numbers)


class VirtualTable(ScrollView, can_focus=True):
    """Rows of cells under a fixed head; `set_rows` swaps them all at once and keeps the cursor on its row key."""

    COMPONENT_CLASSES = {"datatable--header", "datatable--cursor", "datatable--even-row", "datatable--odd-row"}
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header { background-tint: $foreground 5%; }
        }
        &:dark > .datatable--even-row { background: $surface-darken-1 40%; }
        & > .datatable--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .datatable--header { background: ansi_bright_blue; color: ansi_default; }
        & > .datatable--even-row { background: $surface-lighten-1 50%; }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS = [
        Binding("enter", "select_cursor", "select", show=False),
        Binding("up", "cursor_up", "up", show=False),
        Binding("down", "cursor_down", "down", show=False),
        Binding("pageup", "page_up", "page up", show=False),
        Binding("pagedown", "page_down", "page down", show=False),
        Binding("home", "first", "first", show=False),
        Binding("end", "last", "last", show=False),
    ]

    cursor_row: reactive[int] = reactive(0)

    class _RowMessage(Message):
        def __init__(self, table: VirtualTable, row: int, key: str) -> None:
            super().__init__()
            self.table, self.cursor_row, self.key = table, row, key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class RowSelected(_RowMessage):
        """Enter, or a click on the row the cursor is on."""

    class RowHighlighted(_RowMessage):
        """The cursor moved to another row."""

    def __init__(self, *, zebra_stripes: bool = True, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.zebra_stripes = zebra_stripes
        self.columns: list[Column] = []
        self._rows: Sequence[Any] = []
        self._key: Callable[[Any], str] = _first
        self._cells: Callable[[Any], Sequence[Cell]] = _second
        self._index: dict[str, int] = {}
        self._widths: list[int] = []
        self._strips: dict[tuple[int, str], Strip] = {}  # (row, component class) -> the row's uncropped line
        self._styles: dict[str, Style] = {}  # component class -> its Rich style, now

    # --- data ---

    def set_columns(self, columns: list[Column]) -> None:
        """New columns; the rows are cleared (they must be given again, cells to match)."""
        self.columns = list(columns)
        self._set([], _first, _second)

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]] | Sequence[Any], *,
                 key: Callable[[Any], str] | None = None, cells: Callable[[Any], Sequence[Cell]] | None = None,
                 widths: list[int] | None = None) -> None:
        """Replace every row; the cursor stays on the row with the same key where it still exists.

        Rows are (key, cells) pairs, or any objects with `key` and `cells` functions and the column `widths`
        (then a row's cells are made only when it is drawn: 5,000 rows cost what the screen shows)."""
        cursor = self.cursor_key
        self._set(rows, key or _first, cells or _second, widths)
        if cursor is not None and cursor in self._index:
            self.move_cursor(row=self._index[cursor])
        else:
            self.move_cursor(row=min(self.cursor_row, max(len(rows) - 1, 0)))

    def _set(self, rows: Sequence[Any], key: Callable[[Any], str], cells: Callable[[Any], Sequence[Cell]],
             widths: list[int] | None = None) -> None:
        self._rows, self._key, self._cells = rows, key, cells
        self._index = {key(row): i for i, row in enumerate(rows)}
        if widths is None:
            made = [cells(row) for row in rows]
            widths = [max((len(_plain(line[i])) for line in made), default=0) for i in range(len(self.columns))]
        self._widths = [column.width if column.width is not None else max(len(column.label), width)
                        for column, width in zip(self.columns, widths, strict=True)]
        self._strips.clear()
        self.virtual_size = Size(sum(width + 2 for width in self._widths), len(rows) + 1)
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> dict[str, int]:
        """Row keys and their positions."""
        return self._index

    def get_row_at(self, row: int) -> list[Cell]:
        return list(self._cells(self._rows[row]))

    def get_row(self, key: str) -> list[Cell]:
        return self.get_row_at(self._index[key])

    def get_cell(self, key: str, column: str) -> Cell:
        return self.get_row(key)[[c.key for c in self.columns].index(column)]

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    @property
    def cursor_key(self) -> str | None:
        return self._key(self._rows[self.cursor_row]) if 0 <= self.cursor_row < len(self._rows) else None

    # --- cursor ---

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        self.cursor_row = max(0, min(row, len(self._rows) - 1))
        self.scroll_to_cursor(animate)

    def scroll_to_cursor(self, animate: bool = False) -> None:
        visible = max(self.size.height - 1, 1)
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=animate)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=animate)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh()
        if old != new and 0 <= new < len(self._rows):
            self.post_message(self.RowHighlighted(self, new, self._key(self._rows[new])))

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - max(self.size.height - 1, 1))

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(self.size.height - 1, 1))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self._rows) - 1)

    def action_select_cursor(self) -> None:
        if 0 <= self.cursor_row < len(self._rows):
            self.post_message(self.RowSelected(self, self.cursor_row, self._key(self._rows[self.cursor_row])))

    def on_click(self, event: events.Click) -> None:
        row = event.y - 1 + self.scroll_offset.y
        if event.y >= 1 and 0 <= row < len(self._rows):
            if row == self.cursor_row:
                self.action_select_cursor()
            else:
                self.move_cursor(row=row)

    def on_resize(self) -> None:
        self.scroll_to_cursor()

    # --- drawing ---

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_styles()

    def on_focus(self) -> None:
        self._forget_styles()

    def on_blur(self) -> None:
        self._forget_styles()

    def _forget_styles(self) -> None:
        self._strips.clear()
        self._styles.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            strip = self._line(-1, [column.label for column in self.columns], "datatable--header")
        else:
            row = y - 1 + scroll_y
            if row >= len(self._rows):
                return Strip.blank(width, self.rich_style)
            part = ("datatable--cursor" if row == self.cursor_row else
                    "datatable--even-row" if self.zebra_stripes and row % 2 else "datatable--odd-row")
            strip = self._line(row, self._cells(self._rows[row]), part)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _line(self, row: int, cells: Sequence[Cell], part: str) -> Strip:
        cached = self._strips.get((row, part))
        if cached is not None:
            return cached
        base = self._styles.get(part)
        if base is None:
            base = self._styles[part] = self.rich_style + self.get_component_rich_style(part)
        segments: list[Segment] = []
        for cell, width, column in zip(cells, self._widths, self.columns, strict=False):
            if isinstance(cell, Text):
                text = cell.copy()
                text.truncate(width, overflow="ellipsis", pad=True)
                if column.right:
                    text.align("right", width)
                segments.append(Segment(" ", base))
                segments.extend(Segment(s.text, base + s.style if s.style else base)
                                for s in text.render(self.app.console))
                segments.append(Segment(" ", base))
            else:
                value = str(cell)
                value = value if len(value) <= width else value[: max(width - 1, 0)] + "…"[:width]
                segments.append(Segment(f" {value.rjust(width) if column.right else value.ljust(width)} ", base))
        strip = Strip(segments).simplify()
        self._strips[(row, part)] = strip
        return strip


def _first(row: tuple[str, Sequence[Cell]]) -> str:
    return row[0]


def _second(row: tuple[str, Sequence[Cell]]) -> Sequence[Cell]:
    return row[1]


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)

