"""tui/widgets/virtual_table.py: with 5,000 rows only the rows on screen have their cells made, the cursor moves
by row and page and stays on its row's key when the rows are replaced, and enter selects."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.widgets.virtual_table import Column, VirtualTable

ROWS = 5000


class TableApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.made: list[int] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield VirtualTable(id="table")

    def cells(self, n: int) -> list[str]:
        self.made.append(n)
        return [f"run-{n:05d}", str(n % 7)]

    def on_mount(self) -> None:
        table = self.query_one(VirtualTable)
        table.set_columns([Column("name", "NAME"), Column("n", "N", right=True)])
        table.set_rows(list(range(ROWS)), key=lambda n: f"k{n}", cells=self.cells, widths=[9, 1])
        table.focus()

    def on_virtual_table_row_selected(self, message: VirtualTable.RowSelected) -> None:
        self.selected.append(message.key)


async def test_only_the_rows_on_screen_are_made_and_the_cursor_keeps_its_row():
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(VirtualTable)
        assert table.row_count == ROWS
        assert set(app.made) <= set(range(12))  # one screen of rows, not 5,000
        await pilot.press("pagedown", "down")
        assert table.cursor_row == 12 and table.cursor_key == "k12"
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == ROWS - 1
        assert len(set(app.made)) < 40
        assert "run-04999" in "".join(strip.text for strip in (table.render_line(y) for y in range(12)))
        table.set_rows(list(range(ROWS - 1, -1, -1)), key=lambda n: f"k{n}", cells=app.cells, widths=[9, 1])
        assert table.cursor_row == 0 and table.cursor_key == f"k{ROWS - 1}"  # the same run, now first
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == [f"k{ROWS - 1}"]


async def test_rows_given_as_pairs_size_their_columns_and_cut_nothing():
    app = App()
    async with app.run_test(size=(60, 8)) as pilot:
        table = VirtualTable()
        await app.mount(table)
        table.set_columns([Column("a", "A"), Column("b", "LONG HEADER", right=True)])
        table.set_rows([("x", ["a much longer cell", "1"]), ("y", ["b", "22"])])
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(3)]
        assert lines[0].startswith(" " + "A".ljust(18) + "  " + "LONG HEADER" + " ")
        assert lines[1].startswith(" a much longer cell " + " " + "1".rjust(11) + " ")
        assert lines[2].startswith(" " + "b".ljust(18) + "  " + "22".rjust(11) + " ")
