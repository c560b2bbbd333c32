"""`seglab runs` draws its table itself (tui/cli/text_table.py) because Rich takes seconds for thousands of rows:
the lines must be the ones Rich's own table draws."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from tui.cli.text_table import box_lines, print_box_table

COLUMNS = ["name", "model", "epoch", "best Dice"]
ROWS = [["20261118-110640-unet-demo", "unet", "5/5", "0.8710"], ["20261118-132000-resnet34_unet-pets",
                                                                   "resnet34_unet", "3/8", "-"]]


def rich_lines() -> list[str]:
    table = Table(title="2 runs in runs")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in ("epoch", "best Dice") else "left", no_wrap=True)
    for row in ROWS:
        table.add_row(*row)
    console = Console(file=io.StringIO(), width=120)
    console.print(table)
    return console.file.getvalue().splitlines()


def test_the_lines_are_those_of_richs_table():
    widths = [max(len(column), *(len(row[i]) for row in ROWS)) for i, column in enumerate(COLUMNS)]
    console = Console(file=io.StringIO(), width=120)
    print_box_table(console, "2 runs in runs", COLUMNS, ROWS, widths, right={2, 3})
    ours = console.file.getvalue().splitlines()
    assert [line.strip() for line in ours] == [line.strip() for line in rich_lines()]


def test_a_cell_wider_than_its_column_is_cut():
    lines = box_lines(["name"], [["abcdefgh"]], [4], right=set())
    assert lines[3] == "│ abcd │"
