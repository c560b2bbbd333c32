"""An image preview: real pixels through textual-image where the terminal has Sixel or Kitty graphics (see
terminal_graphics.py), else drawn with half-block characters, each cell two pixels (fg = top, bg = bottom),
which works in any truecolor or 256-colour terminal, over SSH, inside tmux and in the browser.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.terminal_graphics import graphics_widget


def half_block_rows(image: Image.Image, width: int, height: int) -> list[list[Segment]]:
    """The image fitted (aspect kept) into width x height cells, as rows of styled '▀' segments."""
    image = image.convert("RGB")
    scale = min(width / image.width, 2 * height / image.height)
    cols = max(1, min(width, round(image.width * scale)))
    pixel_rows = max(2, min(2 * height, round(image.height * scale)))
    pixel_rows += pixel_rows % 2
    small = image.resize((cols, pixel_rows), Image.Resampling.BILINEAR)
    pixels = small.load()
    rows = []
    for y in range(0, pixel_rows, 2):
        row = []
        for x in range(cols):
            top, bottom = pixels[x, y], pixels[x, y + 1]
            row.append(Segment("▀", Style(color=f"rgb{top}", bgcolor=f"rgb{bottom}")))
        rows.append(row)
    return rows


class ImagePreview(Widget):
    """Shows one image, re-fitted whenever the widget is resized; `image` is what it shows (None: a message)."""

    def __init__(self, message: str = "select a row to preview its overlay", **kwargs) -> None:
        super().__init__(**kwargs)
        self.image: Image.Image | None = None
        self.message = message  # what it says until it has an image
        self._rows: list[list[Segment]] = []
        self._fitted_to: tuple[int, int] | None = None
        self._graphics = graphics_widget()  # textual-image's widget class, or None for half-blocks

    def compose(self) -> ComposeResult:
        if self._graphics is not None:
            yield self._graphics(id="preview-pixels")

    def on_mount(self) -> None:
        if self._graphics is not None:
            self.query_one("#preview-pixels").display = False

    def show(self, image: Image.Image | None, message: str = "") -> None:
        """Display a decoded image (decode it off the UI thread: see load_preview_image)."""
        self.image, self.message, self._fitted_to = image, message, None
        if self._graphics is not None:
            pixels = self.query_one("#preview-pixels")
            pixels.image = image
            pixels.display = image is not None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        if self.image is None:
            return Strip([Segment(self.message, Style(dim=True))] if y == 0 else [])
        if self._graphics is not None:
            return Strip([])  # the textual-image child draws the pixels
        if self._fitted_to != (width, height):
            self._rows = half_block_rows(self.image, width, height)
            self._fitted_to = (width, height)
        return Strip(self._rows[y]) if y < len(self._rows) else Strip([])


def load_preview_image(path: Path, max_side: int = 512) -> Image.Image:
    """Open and shrink an image for preview; call from a worker thread."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    image.thumbnail((max_side, max_side))
    return image

