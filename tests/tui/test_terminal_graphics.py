"""Previews with real pixels where the terminal can show them (textual-image), half-blocks elsewhere."""

from __future__ import annotations

import pytest

from core.runs.folders import runs_root
from tui.app import make_app
from tui.screens.predictions import PredictionsScreen
from tui.widgets import terminal_graphics
from tui.widgets.image_preview import ImagePreview
from tui.widgets.virtual_table import VirtualTable

from .helpers import SIZE, wait_for, wait_for_screen
from .test_snapshots import finished_run, write_predictions


@pytest.mark.parametrize("env", [{"TMUX": "/tmp/tmux-0/default,1,0"}, {"SEGLAB_PREVIEW": "half-blocks"}, {}])
def test_tmux_a_pipe_or_the_setting_keep_half_blocks(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert terminal_graphics.enable_terminal_graphics() == "half-blocks"  # pytest's stdout is not a terminal
    assert terminal_graphics.graphics_widget() is None


async def test_a_graphics_terminal_gets_the_image_in_textual_images_widget():
    from textual_image.widget import HalfcellImage  # stands in for the Sixel/Kitty widget a terminal would get

    run = finished_run(runs_root())
    write_predictions(run)
    terminal_graphics.use_graphics_widget(HalfcellImage)
    try:
        app = make_app(runs_root())
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.query_one("#runs-table", VirtualTable).row_count == 1, what="run")
            await pilot.press("p")
            screen = await wait_for_screen(pilot, PredictionsScreen)
            preview = screen.query_one(ImagePreview)
            await wait_for(pilot, lambda: preview.image is not None, what="the first preview")
            pixels = preview.query_one("#preview-pixels", HalfcellImage)
            assert pixels.display and pixels.image is preview.image
            assert preview.image.size == (48, 32)  # the overlay as written, not a re-drawn approximation
    finally:
        terminal_graphics.use_graphics_widget(None)


def test_a_terminal_that_does_not_answer_the_cell_size_query_prints_no_traceback(monkeypatch, caplog):
    import logging
    import sys
    import types

    def query_that_times_out(name: str):
        """What textual-image does on import in such a terminal: log the failed query with its traceback."""
        try:
            raise TimeoutError("Timeout waiting for data")
        except TimeoutError as error:
            logging.getLogger("textual_image._terminal").warning(
                "Failed to get cell size via escape sequence, assuming VT340 sizes", exc_info=error)
        return type(name, (), {})  # Image, SixelImage and TGPImage three classes: neither protocol, half-blocks

    renderable = types.ModuleType("textual_image.renderable")
    renderable.__getattr__ = query_that_times_out
    monkeypatch.setitem(sys.modules, "textual_image.renderable", renderable)
    monkeypatch.setitem(sys.modules, "textual_image.widget", types.SimpleNamespace(Image=object))
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("STY", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(logging.getLogger("textual_image"), "level", logging.NOTSET)  # restored after the test
    with caplog.at_level(logging.DEBUG):
        assert terminal_graphics.enable_terminal_graphics() == "half-blocks"
    assert not [record for record in caplog.records if record.name.startswith("textual_image")]  # to no handler
