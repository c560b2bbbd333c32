"""The live screen's progress pictures through Pilot: `m` shows them, [ and ] page epoch by epoch, and a new
picture is followed while the newest is shown."""

from __future__ import annotations

from PIL import Image
from textual.widgets import RichLog

from core.runs.events import EventLog, PictureEvent
from core.runs.folders import runs_root
from core.runs.pictures import progress_path
from tests.tui.test_snapshots import finished_run, open_the_only_run
from tui.app import make_app
from tui.widgets.image_preview import ImagePreview
from tui.widgets.progress_pane import ProgressPane

from .helpers import SIZE, shown, wait_for

COLOURS = {1: (200, 30, 30), 2: (30, 200, 30), 3: (30, 30, 200), 6: (200, 200, 30)}


def draw_picture(run_path, epoch: int) -> None:
    path = progress_path(run_path, epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 96), COLOURS[epoch]).save(path)


def caption(pane: ProgressPane) -> str:
    return shown(pane.query_one("#progress-caption"))


async def test_the_masks_pane_pages_through_epochs_and_follows_a_new_one():
    run = finished_run(runs_root())
    for epoch in (1, 2, 3):
        draw_picture(run.path, epoch)
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await open_the_only_run(pilot, epochs=5)
        screen = app.screen
        pane, log = screen.query_one(ProgressPane), screen.query_one(RichLog)
        assert not pane.display and log.display
        await pilot.press("m")
        assert pane.display and not log.display
        preview = pane.query_one(ImagePreview)
        await wait_for(pilot, lambda: preview.image is not None and preview.image.getpixel((0, 0)) == COLOURS[3],
                       what="epoch 3's picture")
        assert caption(pane).startswith("masks after epoch 3 (3/3, newest")
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: preview.image.getpixel((0, 0)) == COLOURS[1], what="epoch 1's picture")
        assert caption(pane).startswith("masks after epoch 1 (1/3, [ ] to page)")
        await pilot.press("left_square_bracket")  # no earlier one: stays
        assert pane.epoch == 1
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: preview.image.getpixel((0, 0)) == COLOURS[2], what="epoch 2's picture")

        draw_picture(run.path, 6)  # a new epoch's picture while an older one is shown: the view stays
        with EventLog(run.events_path) as events:
            events.write(PictureEvent(epoch=6, path=str(progress_path(run.path, 6))))
        await wait_for(pilot, lambda: len(pane.pictures) == 4, what="the new picture")
        assert pane.epoch == 2 and caption(pane).startswith("masks after epoch 2 (2/4")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: preview.image.getpixel((0, 0)) == COLOURS[6], what="epoch 6's picture")
        await pilot.press("m")
        assert log.display and not pane.display
