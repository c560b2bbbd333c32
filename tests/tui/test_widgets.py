"""The dashboard's drawing helpers and widgets on their own: braille charts, half-block images, the epoch
table's best-row star, durations and event-log lines."""

from __future__ import annotations

import math
import os
import time

import pytest
from PIL import Image
from textual.app import App, ComposeResult

from core.runs.events import CheckpointEvent, EpochEvent, ProgressEvent, StatusEvent
from core.runs.status import State
from tui.epoch_rows import EPOCH_COLUMNS, EPOCH_WIDTHS, class_columns, epoch_cells, epoch_columns, epoch_line
from tui.screens.dashboard import log_line
from tui.widgets.braille import braille_chart
from tui.widgets.curves import Curves
from tui.widgets.epoch_table import EpochTable
from tui.widgets.image_preview import half_block_rows
from tui.widgets.run_header import RunHeader, format_duration

from .helpers import plain

# braille charts -----------------------------------------------------------------------------------

# (column, row) of each dot bit inside a braille cell (Unicode's dot numbering 1-8)
DOT_OF_BIT = {0x01: (0, 0), 0x02: (0, 1), 0x04: (0, 2), 0x40: (0, 3),
              0x08: (1, 0), 0x10: (1, 1), 0x20: (1, 2), 0x80: (1, 3)}


def dots(rows: list[str]) -> set[tuple[int, int]]:
    """The (x, y) of every raised dot in a chart, y growing downwards, in dot units."""
    raised = set()
    for r, line in enumerate(rows):
        for c, char in enumerate(line):
            bits = ord(char) - 0x2800
            assert 0 <= bits <= 0xFF, f"{char!r} is not a braille character"
            raised |= {(2 * c + dx, 4 * r + dy) for bit, (dx, dy) in DOT_OF_BIT.items() if bits & bit}
    return raised


def column(raised: set[tuple[int, int]], x: int) -> set[int]:
    return {y for dx, y in raised if dx == x}


def test_a_chart_is_height_rows_of_width_braille_characters():
    rows = braille_chart([0.3, 0.1, 0.7, 0.2], width=12, height=3)
    assert len(rows) == 3
    assert all(len(row) == 12 for row in rows)
    dots(rows)  # every character is braille


def test_a_rising_series_starts_bottom_left_and_ends_top_right():
    raised = dots(braille_chart([0.0, 1.0, 2.0, 3.0, 4.0], width=10, height=3))
    assert column(raised, 0) == {11}  # 3 rows of 4 dots: the lowest dot
    assert column(raised, 19) == {0}  # 10 cells of 2 dots: the last column's top dot


def test_a_falling_series_starts_top_left_and_ends_bottom_right():
    raised = dots(braille_chart([4.0, 3.0, 2.0, 1.0, 0.0], width=10, height=3))
    assert column(raised, 0) == {0}
    assert column(raised, 19) == {11}


def test_the_points_are_joined_into_an_unbroken_line():
    raised = dots(braille_chart([0.0, 5.0, 1.0, 4.0], width=15, height=4))
    assert all(column(raised, x) for x in range(30))
    assert {y for _, y in raised} == set(range(16))  # the steep parts fill every row between the points


def test_a_constant_series_is_a_flat_line_across_the_chart():
    raised = dots(braille_chart([0.5] * 6, width=8, height=2))
    assert {x for x, _ in raised} == set(range(16))
    assert len({y for _, y in raised}) == 1


def test_non_finite_values_are_skipped_and_their_neighbours_joined():
    with_gaps = braille_chart([0.0, math.nan, math.inf, 1.0], width=6, height=2)
    assert with_gaps == braille_chart([0.0, 1.0], width=6, height=2)


@pytest.mark.parametrize("values", [[], [math.nan, math.nan]])
def test_a_chart_with_nothing_to_draw_is_blank(values):
    assert braille_chart(values, width=5, height=2) == ["\u2800" * 5] * 2


def test_given_bounds_clip_the_values_and_fix_the_scale():
    raised = dots(braille_chart([-1.0, 0.5, 2.0], width=4, height=2, low=0.0, high=1.0))
    assert column(raised, 0) == {7}  # below `low`: on the bottom edge
    assert column(raised, 7) == {0}  # above `high`: on the top edge


# half-block images --------------------------------------------------------------------------------

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def test_each_half_block_cell_shows_the_top_pixel_in_front_and_the_bottom_one_behind():
    image = Image.new("RGB", (2, 2))
    image.putdata([RED, GREEN, BLUE, WHITE])  # top row red, green; bottom row blue, white
    (row,) = half_block_rows(image, width=2, height=1)
    assert [segment.text for segment in row] == ["▀", "▀"]
    assert [(s.style.color.triplet, s.style.bgcolor.triplet) for s in row] == [(RED, BLUE), (GREEN, WHITE)]


def test_a_half_block_image_keeps_its_aspect_in_the_space_it_gets():
    wide = Image.new("RGB", (40, 20), RED)
    rows = half_block_rows(wide, width=10, height=10)
    assert len(rows) == 3 and all(len(row) == 10 for row in rows)  # 10 x 5 pixels, an even 6 pixel rows
    tall = Image.new("RGB", (20, 40), RED)
    rows = half_block_rows(tall, width=10, height=5)
    assert len(rows) == 5 and all(len(row) == 5 for row in rows)  # 5 x 10 pixels


# epoch table --------------------------------------------------------------------------------------


def epoch(n: int, dice: float, best: bool = False) -> EpochEvent:
    """An epoch event; `best` is the engine's verdict (the widgets show it, they do not decide it)."""
    return EpochEvent(epoch=n, epochs=5, train_loss=0.5 / n, val_loss=0.6 / n, val_dice=dice, val_iou=dice - 0.1,
                      lr=5e-4, seconds=12.4, is_best=best, time=1_700_000_000.0 + n)


class OneWidget(App):
    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


def ep_column(table: EpochTable) -> list[str]:
    return [plain(cell) for cell in table.get_column("EP")]


async def test_only_the_best_epoch_so_far_wears_the_star():
    table = EpochTable()
    async with OneWidget(table).run_test(size=(100, 20)) as pilot:
        table.add_epoch(epoch(1, 0.50, best=True))
        assert ep_column(table) == ["1★"]
        table.add_epoch(epoch(2, 0.40))
        assert ep_column(table) == ["1★", "2"]
        table.add_epoch(epoch(3, 0.70, best=True))
        await pilot.pause()
        assert ep_column(table) == ["1", "2", "3★"]
        assert [plain(c) for c in table.get_row("3")] == ["3★", "0.1667", "0.2000", "0.7000", "0.6000", "5.0e-04",
                                                          "12"]


async def test_a_history_replaces_the_rows_and_stars_its_own_best():
    table = EpochTable()
    async with OneWidget(table).run_test(size=(100, 20)):
        table.add_epoch(epoch(1, 0.99, best=True))
        table.set_epochs([epoch(1, 0.3, best=True), epoch(2, 0.8, best=True), epoch(3, 0.6)])
        assert ep_column(table) == ["1", "2★", "3"]


async def test_the_curves_show_their_values_and_name_the_best_epoch():
    curves = Curves()
    async with OneWidget(curves).run_test(size=(60, 12)) as pilot:
        assert "after the first epoch" in str(curves.render())
        for n, (dice, best) in enumerate([(0.2, True), (0.9, True), (0.5, False)], start=1):
            curves.add_epoch(epoch(n, dice, best))
        await pilot.pause()
        lines = str(curves.render()).splitlines()
        assert lines[-1] == "best Dice 0.9000 at epoch 2"
        # three rows a chart, each chart's top and bottom value beside it, the last value after its first row
        assert lines[0].startswith(" 0.500 ") and lines[0].endswith(" train 0.1667")
        assert lines[2].startswith(" 0.167 ")
        assert lines[6].startswith(" 1.000 ") and lines[6].endswith(" dice  0.5000")
        assert lines[8].startswith(" 0.000 ")
        axis = lines[9].split()
        assert axis == ["1", "epoch", "3"] and lines[9].startswith(" " * 7 + "1")


async def test_a_budgeted_runs_header_takes_the_planned_epoch_count_from_its_epochs():
    header = RunHeader("budget3", 20, clock=lambda: 1_700_000_100.0, time_budget=3)
    async with OneWidget(header).run_test(size=(120, 6)) as pilot:
        header.set_state(State.RUNNING, started=1_700_000_000.0)
        header.add_epoch(EpochEvent(epoch=1, epochs=22, train_loss=0.5, val_loss=0.6, val_dice=0.5, val_iou=0.4,
                                    lr=1e-4, seconds=8.2, is_best=True))
        await pilot.pause()
        title = plain(header.query_one("#run-title").render())
        assert "epoch 1/22 (3-min budget) ─ 00:01:40 elapsed ─ ETA 00:02:52" in title


def multiclass_epoch(n: int, names: tuple[str, ...], best: bool = False) -> EpochEvent:
    """A multiclass epoch: class i (background first) has val Dice 0.9 - i / 10, val_dice their foreground mean."""
    class_dice = {name: round(0.9 - i / 10, 2) for i, name in enumerate(names)}
    foreground = list(class_dice.values())[1:]
    mean = sum(foreground) / len(foreground)
    return EpochEvent(epoch=n, epochs=5, train_loss=0.5 / n, val_loss=0.6 / n, val_dice=mean, val_iou=0.5,
                      lr=5e-4, seconds=12.4, is_best=best, time=1_700_000_000.0 + n, class_dice=class_dice)


TRIMAP = ("background", "pet", "border")
MANY = ("background", "cat", "dog", "bird", "fish")  # five classes: too many for a column each


def test_a_binary_epoch_row_and_line_are_as_before_the_classes_came():
    event = epoch(3, 0.7, best=True)
    assert epoch_columns(class_columns(event)) == [(label, label, EPOCH_WIDTHS[label]) for label in EPOCH_COLUMNS]
    assert epoch_cells(event, of_epochs=True) == ("3/5★", "0.1667", "0.2000", "0.7000", "0.6000", "5.0e-04", "12")
    assert epoch_line(event) == ("epoch 3/5★  train loss 0.1667  val loss 0.2000  val Dice 0.7000  IoU 0.6000  "
                                 "lr 5.0e-04  12 s")


def test_a_few_classes_get_a_narrow_column_each_beside_the_mean_dice():
    event = multiclass_epoch(2, ("background", "pet", "rectangle"))
    columns = epoch_columns(class_columns(event))
    assert [header for _, header, _ in columns] == ["EP", "TRAIN LOSS", "VAL LOSS", "VAL DICE", "PET", "RECTAN",
                                                   "IOU", "LR", "SEC"]
    assert [width for _, header, width in columns if header in ("PET", "RECTAN")] == [6, 6]
    assert epoch_cells(event) == ("2", "0.2500", "0.3000", "0.7500", "0.8000", "0.7000", "0.5000", "5.0e-04", "12")
    assert epoch_line(event) == ("epoch 2/5  train loss 0.2500  val loss 0.3000  val Dice 0.7500  IoU 0.5000  "
                                 "lr 5.0e-04  12 s  pet 0.8000  rectangle 0.7000")


def test_many_classes_get_no_columns_and_are_listed_in_the_event_log(utc):
    event = multiclass_epoch(1, MANY)
    assert class_columns(event) == ()
    assert len(epoch_cells(event)) == len(EPOCH_COLUMNS)
    assert "cat" not in epoch_line(event)
    assert log_line(event) == ("22:13:21 epoch 1: val Dice 0.6500  (cat 0.8000  dog 0.7000  bird 0.6000  "
                               "fish 0.5000)")
    assert log_line(multiclass_epoch(1, TRIMAP)) == "22:13:21 epoch 1: val Dice 0.7500"  # its classes are columns


async def test_the_epoch_table_of_a_multiclass_run_shows_each_class_beside_the_mean_dice():
    table = EpochTable()
    async with OneWidget(table).run_test(size=(100, 20)) as pilot:
        table.set_epochs([multiclass_epoch(1, TRIMAP, best=True)])
        table.add_epoch(multiclass_epoch(2, TRIMAP, best=True))
        await pilot.pause()
        assert [plain(column.label) for column in table.ordered_columns] == [
            "EP", "TRAIN LOSS", "VAL LOSS", "VAL DICE", "PET", "BORDER"]  # in place of IoU, lr and seconds
        assert [plain(c) for c in table.get_row("2")] == ["2★", "0.2500", "0.3000", "0.7500", "0.8000", "0.7000"]
        assert ep_column(table) == ["1", "2★"]


def test_seglab_trains_live_table_has_the_class_columns_too():
    from io import StringIO

    from rich.console import Console

    from tui.cli.training_view import TrainingView

    console = Console(file=StringIO(), record=True, force_terminal=True, width=120)
    with TrainingView(console) as view:
        view(multiclass_epoch(1, TRIMAP, best=True))
    *_, header = (line for line in console.export_text().splitlines() if "VAL DICE" in line)  # the final table
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "EP", "TRAIN LOSS", "VAL LOSS", "VAL DICE", "PET", "BORDER", "IOU", "LR", "SEC"]


# durations and the event log ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "--:--"), (-1.0, "--:--"), (0, "00:00:00"), (59.9, "00:00:59"), (3661, "01:01:01"),
     (100 * 3600 + 5, "100:00:05")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.fixture
def utc():
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()


def test_event_log_lines_say_what_happened_at_what_time(utc):
    at = 1_700_000_000.0  # 22:13:20 UTC
    assert log_line(StatusEvent(state="running", message="started epoch 1/5", time=at)) == (
        "22:13:20 running: started epoch 1/5")
    assert log_line(StatusEvent(state="finished", time=at)) == "22:13:20 finished"
    assert log_line(CheckpointEvent(path="/runs/x/checkpoints/best.pt", epoch=3, time=at)) == (
        "22:13:20 saved best.pt (epoch 3)")
    assert log_line(EpochEvent(epoch=3, epochs=5, train_loss=0.2, val_loss=0.3, val_dice=0.87654, val_iou=0.8,
                               lr=1e-3, seconds=4.0, is_best=True, time=at)) == (
        "22:13:20 epoch 3: val Dice 0.8765  ★ best")
    assert log_line(ProgressEvent(epoch=1, step=1, steps=9, loss=0.5, images_per_s=10.0, time=at)) is None


def test_the_run_header_names_the_runtime_and_the_process_count_of_a_distributed_run():
    from tui.widgets.run_header import RunHeader

    header = RunHeader("r", 10, clock=lambda: 0.0)
    header.set_runtime({"device": "cuda:0", "precision": "bf16", "channels_last": True, "processes": 4})
    assert header.runtime == "cuda:0 · bf16 · channels_last · 4 processes"
    header.set_runtime({"device": "cpu", "precision": "fp32", "channels_last": False, "processes": 1})
    assert header.runtime == "cpu · fp32"


def test_overlaid_charts_give_each_cell_the_colour_of_the_run_drawn_in_it():
    from tui.widgets.compare_curves import overlay_charts

    rows = overlay_charts([[1.0, 1.0], [0.0, 0.0]], width=3, height=2, low=0.0, high=1.0)
    assert [owner for _, owner in rows[0]] == [0, 0, 0]  # the high run along the top
    assert [owner for _, owner in rows[1]] == [1, 1, 1]  # the low one along the bottom
    assert all(char != "\u2800" for row in rows for char, _ in row)
    shorter = overlay_charts([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5]], width=4, height=1, low=0.0, high=1.0)
    assert [owner for _, owner in shorter[0]][2:] == [0, 0]  # a run with fewer epochs ends half way


def test_the_sweeps_best_so_far_chart_shows_its_scale_and_a_level_line_mid_height():
    from tui.screens.sweep import best_chart

    rising = best_chart([0.80, 0.85, 0.937])
    assert rising[0].startswith("0.937 ") and rising[-1].startswith("0.800 ")
    level = best_chart([0.937, 0.937])
    assert level[0].startswith("0.942 ") and level[-1].startswith("0.932 ")
    drawn = [index for index, line in enumerate(level) if line[6:].strip("\u2800")]
    assert drawn and 0 < drawn[0] < len(level) - 1  # the constant best: mid-height, not along the bottom
    assert best_chart([]) == []
