"""The live screen's progress pictures: the model's masks on the same validation images after each epoch, paged
epoch by epoch with [ and ], following the newest while you look at the newest (masks improving, over SSH)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.widgets.image_preview import ImagePreview, load_preview_image


class ProgressPane(Vertical):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pictures: list[tuple[int, Path]] = []
        self.index = -1  # the picture shown; follows the newest while it is the newest

    def compose(self) -> ComposeResult:
        yield Static("no progress pictures yet: one comes after each epoch (--progress-images)",
                     id="progress-caption")
        yield ImagePreview("", id="progress-image")  # the caption above says why there is no picture yet

    @property
    def epoch(self) -> int | None:
        return self.pictures[self.index][0] if self.pictures else None

    def set_pictures(self, pictures: list[tuple[int, Path]]) -> None:
        self.pictures = list(pictures)
        self.index = len(self.pictures) - 1
        self._show()

    def add_picture(self, epoch: int, path: Path) -> None:
        following = self.index == len(self.pictures) - 1
        self.pictures = [picture for picture in self.pictures if picture[0] != epoch] + [(epoch, path)]
        self.pictures.sort()
        if following:
            self.index = len(self.pictures) - 1
            self._show()
        else:
            self._caption()

    def page(self, step: int) -> None:
        if not self.pictures:
            return
        self.index = min(max(self.index + step, 0), len(self.pictures) - 1)
        self._show()

    def _caption(self) -> None:
        if not self.pictures:
            return
        newest = "newest, follows new epochs" if self.index == len(self.pictures) - 1 else "[ ] to page"
        self.query_one("#progress-caption", Static).update(
            f"masks after epoch {self.epoch} ({self.index + 1}/{len(self.pictures)}, {newest}): truth | prediction")

    def _show(self) -> None:
        self._caption()
        if self.pictures:
            self._load(self.pictures[self.index][1])

    @work(thread=True, exclusive=True, exit_on_error=False, group="progress-picture")
    def _load(self, path: Path) -> None:
        try:
            image: Image.Image | None = load_preview_image(path)
            message = ""
        except OSError as error:
            image, message = None, f"cannot read {path.name}: {error.strerror or error}"
        self.app.call_from_thread(self.query_one(ImagePreview).show, image, message)
