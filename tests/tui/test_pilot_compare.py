"""The runs screen's marks, filter and sort, and the compare screen over two real tiny runs (Pilot)."""

from __future__ import annotations

from textual.widgets import DataTable

from core.config import TrainConfig
from core.runs.folders import create_run, runs_root
from core.training.engine import train
from tui.app import make_app
from tui.screens.compare import CompareScreen
from tui.widgets.compare_curves import CompareCurves
from tui.widgets.virtual_table import VirtualTable

from .helpers import SIZE, plain, shown, wait_for, wait_for_screen

RUNS = 2


def table_column(table: DataTable, column: str) -> list[str]:
    return [plain(table.get_cell(row, column)) for row in table.rows]


async def test_marking_two_runs_and_pressing_c_compares_them(tiny_config):
    names = []
    for model in ("unet", "resnet18_unet"):
        config = tiny_config.replace(model=model, name=model.replace("_", "-"))
        run = create_run(config, runs_root())
        train(config, run)
        names.append(config.name)  # what the comparison calls the run (its folder name is 40 characters)
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#runs-table", VirtualTable)
        await wait_for(pilot, lambda: table.row_count == RUNS, what="both runs")
        await pilot.press("c")  # nothing marked: a hint, no screen
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        await pilot.press("space", "space")
        assert table_column(table, "MARK") == ["✓", "✓"]
        await pilot.press("c")
        screen = await wait_for_screen(pilot, CompareScreen)
        compare_table = screen.query_one("#compare-table", DataTable)
        await wait_for(pilot, lambda: compare_table.row_count == RUNS, timeout=60, what="the comparison")
        assert sorted(table_column(compare_table, "run")) == sorted(names)
        assert sorted(name for name, _, _ in screen.query_one(CompareCurves).runs) == sorted(names)
        first = shown(screen.query_one("#compare-caption"))
        await pilot.press("right")
        await wait_for(pilot, lambda: shown(screen.query_one("#compare-caption")) != first, what="the next image")
        assert shown(screen.query_one("#compare-caption")).startswith("2/")


async def test_slash_model_unet_leaves_only_unet_runs_and_s_cycles_the_sort():
    for model, name in (("unet", "a"), ("resnet34_unet", "b"), ("unet", "c")):
        create_run(TrainConfig(model=model, name=name), runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#runs-table", VirtualTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="the runs")
        await pilot.press("slash", *"model=unet", "enter")
        await wait_for(pilot, lambda: table.row_count == 2, what="the filtered list")
        assert table_column(table, "MODEL") == ["unet", "unet"]
        assert "2 of 3 runs" in shown(app.screen.query_one("#runs-title"))
        await pilot.press("s")  # started -> name
        assert "sort: name" in shown(app.screen.query_one("#runs-title"))
        assert [name[-1] for name in table_column(table, "NAME")] == ["a", "c"]
        await pilot.press("slash", *" colour=red", "enter")
        await wait_for(pilot, lambda: "unknown field 'colour'" in shown(app.screen.query_one("#runs-title")),
                       what="the filter's error")
        assert table.row_count == 3  # a bad filter shows every run, and says why
        errors = [str(n.message) for n in app._notifications if "unknown field 'colour'" in str(n.message)]
        assert len(errors) == 1 and "known fields: name, model" in errors[0]  # whole, where the title cuts it
        app.screen.action_refresh()
        await pilot.pause(0.2)
        assert sum("unknown field 'colour'" in str(n.message) for n in app._notifications) == 1  # said once
        await pilot.press("escape")
        await wait_for(pilot, lambda: "filter:" not in shown(app.screen.query_one("#runs-title")), what="no filter")


async def test_a_binary_and_a_multiclass_run_are_not_compared_and_the_screen_says_why(tiny_config):
    binary = create_run(tiny_config.replace(name="two"), runs_root())
    multiclass = create_run(tiny_config.replace(name="three", task="multiclass", loss="ce"), runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        app.open_compare([binary.path, multiclass.path])
        screen = await wait_for_screen(pilot, CompareScreen)
        await wait_for(pilot, lambda: "nothing to compare" in shown(screen.query_one("#compare-title")),
                       what="the refusal")
        told = [str(n.message) for n in app._notifications]
        assert any(f"the runs differ in task ({binary.name}: binary, {multiclass.name}: multiclass)" in m
                   and "do not compare" in m for m in told), told
        assert screen.query_one("#compare-table", DataTable).row_count == 0
