"""The predictions screen and quitting through Pilot: results worst first with a preview, and live children on quit."""

from __future__ import annotations

import csv
import signal
import time

import pytest
from PIL import Image

from core.data.labels import BINARY, Labels
from core.inference.results import (
    RESULTS_CSV,
    PredictionRow,
    ResultTotals,
    overlay_path,
    result_columns,
    row_record,
    write_summary,
)
from core.runs.folders import Run, create_run, list_runs, runs_root
from tui.app import make_app
from tui.screens.confirm import QuitScreen
from tui.screens.predictions import PredictionsScreen
from tui.widgets.image_preview import ImagePreview
from tui.widgets.virtual_table import VirtualTable

from .helpers import SIZE, runs_table, shown, table_rows, trained_run, wait_for, wait_for_screen


async def test_predicting_the_test_split_lists_results_worst_first_with_a_preview(tiny_config):
    # lr 0.02 and 40 images: after two epochs the four test images get four different Dice scores
    run = trained_run(tiny_config.replace(synthetic_count=40, lr=0.02))
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await runs_table(pilot, rows=1)
        await pilot.press("p")
        screen = await wait_for_screen(pilot, PredictionsScreen)
        table = screen.query_one("#results", VirtualTable)
        await pilot.click("#predict")
        await wait_for(pilot, lambda: table.row_count > 0, timeout=30, what="the predictions")

        out = run.predictions_dir / "test"
        with open(out / "results.csv", newline="") as f:
            written = {r["name"]: float(r["dice"]) for r in csv.DictReader(f)}
        assert len(written) == table.row_count == 4
        assert len(set(written.values())) > 1, "the ordering below needs distinct scores"
        for name in written:
            assert (out / f"{name}_overlay.png").is_file()

        rows = table_rows(table)
        assert [float(row[1]) for row in rows] == sorted(round(d, 3) for d in written.values())
        assert [row[0] for row in rows] == sorted(written, key=written.get)

        await pilot.press("n")
        assert [row[0] for row in table_rows(table)] == sorted(written)

        preview = screen.query_one(ImagePreview)
        path_note = screen.query_one("#preview-path")
        await pilot.press("down")
        second = table_rows(table)[1][0]
        overlay = out / f"{second}_overlay.png"
        with Image.open(overlay) as image:
            expected = image.convert("RGB").tobytes()
        await wait_for(pilot, lambda: shown(path_note) == str(overlay), what="the row's overlay path")
        await wait_for(pilot, lambda: preview.image is not None and preview.image.tobytes() == expected,
                       what="the row's overlay in the preview")
        assert "▀" in preview.render_line(0).text


async def test_p_on_a_run_without_a_checkpoint_warns_instead_of_opening_predictions(tiny_config, monkeypatch):
    create_run(tiny_config, runs_root())
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await runs_table(pilot, rows=1)
        screen = app.screen
        warnings = []
        monkeypatch.setattr(app, "notify", lambda message, **kwargs: warnings.append(message))
        await pilot.press("p")
        await pilot.pause()
        assert app.screen is screen
        assert any("no checkpoint yet" in message for message in warnings)
        run = list_runs(runs_root())[0]
        run.update_status(state="finished", epoch=3)  # trained, but its best.pt was removed
        warnings.clear()
        await pilot.press("p")
        await pilot.pause()
        assert warnings == [f"{run.name}: no checkpoints/best.pt (removed?); predictions need it"]


def predictions_by_hand(tiny_config, labels: Labels, class_dice: dict[str, dict[str, float | None]]) -> Run:
    """A run whose test predictions (results, summary, plain-colour overlays) are written without a model."""
    task = {"task": "multiclass", "classes": labels.classes, "loss": "ce"} if labels.multiclass else {}
    run = create_run(tiny_config.replace(**task), runs_root())
    out = run.predictions_dir / "test"
    out.mkdir(parents=True)
    rows = []
    for n, (name, dice) in enumerate(class_dice.items()):
        Image.new("RGB", (8, 8), (40 * n, 0, 0)).save(overlay_path(out, name))
        mean = [value for value in list(dice.values())[1:] if value is not None]
        rows.append(PredictionRow(name=name, width=8, height=8, foreground=0.5, dice=sum(mean) / len(mean) if mean
                                  else 0.5, iou=0.5, folder=out, class_dice=dice if labels.multiclass else {}))
    totals = ResultTotals(labels)
    with open(out / RESULTS_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=result_columns(labels))
        writer.writeheader()
        for row in rows:
            writer.writerow(row_record(row, labels))
            totals.add(row)
    write_summary(out, totals, {"checkpoint": "best"})
    return run


async def open_predictions(app, pilot, run: Run) -> PredictionsScreen:
    await runs_table(pilot, rows=1)
    app.push_screen(PredictionsScreen(run))
    screen = await wait_for_screen(pilot, PredictionsScreen)
    await wait_for(pilot, lambda: screen.query_one("#results", VirtualTable).row_count == 2, what="the results")
    return screen


def swatch_colours(widget) -> dict[str, tuple[int, int, int]]:
    """The colour of each "■" the widget draws, by the word after it."""
    colours = {}
    for y in range(widget.size.height):
        segments = list(widget.render_line(y))
        for i, segment in enumerate(segments):
            if segment.text == "■" and segment.style and segment.style.color:
                after = "".join(s.text for s in segments[i + 1:]).split()
                colours[after[0]] = segment.style.color.triplet
    return colours


async def test_a_multiclass_prediction_shows_the_class_colours_and_the_images_dice_per_class(tiny_config):
    run = predictions_by_hand(tiny_config, Labels("multiclass", ("background", "pet", "border")), {
        "good": {"background": 0.97, "pet": 0.91, "border": 0.62},
        "poor": {"background": 0.9, "pet": 0.5, "border": None},  # border neither in truth nor in prediction
    })
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_predictions(app, pilot, run)
        note = screen.query_one("#preview-classes")
        assert table_rows(screen.query_one("#results", VirtualTable))[0][0] == "poor"  # worst first
        await wait_for(pilot, lambda: "Dice:" in shown(note), what="the class Dice")
        assert shown(note) == "overlay: ■ pet  ■ border\nDice: pet 0.500 · border - · background 0.900"
        await pilot.pause()
        assert swatch_colours(note) == {"pet": (255, 40, 40), "border": (40, 120, 255)}  # the overlay's colours
        await pilot.press("down")
        await wait_for(pilot, lambda: "pet 0.910" in shown(note), what="the next image's class Dice")
        assert shown(note).splitlines()[1] == "Dice: pet 0.910 · border 0.620 · background 0.970"


async def test_a_binary_prediction_shows_no_class_note(tiny_config):
    run = predictions_by_hand(tiny_config, BINARY, {"a": {"foreground": 0.8}, "b": {"foreground": 0.6}})
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_predictions(app, pilot, run)
        await pilot.pause()
        assert not screen.query_one("#preview-classes").display
        assert shown(screen.query_one("#preview-path")).endswith("_overlay.png")


# quitting -----------------------------------------------------------------------------------------


async def ask_to_quit(app, pilot, run, child) -> None:
    """Press q while `child` stands in for the run's training child started from this dashboard."""
    app.children_started[run.path] = child
    await pilot.press("q")
    await wait_for_screen(pilot, QuitScreen)


@pytest.mark.parametrize(("button", "signalled"), [("#leave", False), ("#stop", True)])
async def test_quitting_with_a_live_child_asks_whether_to_leave_it_running(tiny_config, sleeper, button, signalled):
    run, app = create_run(tiny_config, runs_root()), make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await ask_to_quit(app, pilot, run, sleeper)
        assert run.name in shown(app.screen.query_one(".dialog-question"))
        await pilot.click(button)
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    if signalled:
        assert sleeper.wait(timeout=5) == -signal.SIGINT
    else:
        time.sleep(0.1)
        assert sleeper.poll() is None


async def test_cancel_in_the_quit_question_keeps_the_dashboard_open(tiny_config, sleeper):
    run, app = create_run(tiny_config, runs_root()), make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await ask_to_quit(app, pilot, run, sleeper)
        await pilot.press("ctrl+c", "q")  # asked again while the question shows: still one question
        await pilot.pause()
        assert sum(isinstance(screen, QuitScreen) for screen in app.screen_stack) == 1
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: not isinstance(app.screen, QuitScreen), what="the question to close")
        assert app.is_running
    assert sleeper.poll() is None


async def test_quit_without_live_children_exits_at_once():
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
