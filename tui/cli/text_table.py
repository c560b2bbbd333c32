"""A table drawn as plain lines in the look of Rich's default table (heavy head, light body): Rich measures every
cell, which takes seconds for thousands of rows; this takes milliseconds (`seglab runs` with 5,000 runs)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def box_lines(columns: list[str], rows: list[list[str]], widths: list[int], right: set[int]) -> list[str]:
    """The table's lines: head, rows, bottom; cell i is cut or padded to widths[i], right-aligned when i is in
    `right`."""

    def cells(values: list[str], bar: str) -> str:
        return bar + bar.join(
            f" {value[:width].rjust(width) if i in right else value[:width].ljust(width)} "
            for i, (value, width) in enumerate(zip(values, widths, strict=True))) + bar

    def rule(left: str, fill: str, middle: str, end: str) -> str:
        return left + middle.join(fill * (width + 2) for width in widths) + end

    return [rule("┏", "━", "┳", "┓"), cells(columns, "┃"), rule("┡", "━", "╇", "┩"),
            *(cells(row, "│") for row in rows), rule("└", "─", "┴", "┘")]


def print_box_table(console: Console, title: str, columns: list[str], rows: list[list[str]], widths: list[int],
                    right: set[int]) -> None:
    """The title in italics and the head in bold (as Rich's table), then the rows as one block of plain text."""
    lines = box_lines(columns, rows, widths, right)
    console.print(Text(title, style="italic"), soft_wrap=True)
    console.print(Text(lines[0]), Text(lines[1], style="bold"), Text(lines[2]), sep="\n", soft_wrap=True)
    console.out("\n".join(lines[3:]), highlight=False)
