"""Whether image previews use real pixels: textual-image's Sixel or Kitty graphics where the terminal answers
that it shows them, else seglab's half-block drawing (tmux, screen, the browser, pipes and tests). Decided once,
before the dashboard starts: the terminal can only be asked while nothing else reads its input."""

from __future__ import annotations

import logging
import os
import sys

HALF_BLOCKS = "half-blocks"
PREVIEW_ENV = "SEGLAB_PREVIEW"  # "half-blocks" keeps the hand-drawn preview in any terminal
_widget: type | None = None  # textual-image's widget class, once a graphics protocol has been found


def graphics_widget() -> type | None:
    """The textual-image widget class previews use, or None for half-blocks."""
    return _widget


def enable_terminal_graphics() -> str:
    """Ask the terminal (through textual-image) for Sixel or the Kitty graphics protocol; returns the method the
    previews will use: "sixel", "kitty" or "half-blocks"."""
    global _widget
    multiplexed = os.environ.get("TMUX") or os.environ.get("STY") or os.environ.get("TERM", "").startswith("screen")
    if os.environ.get(PREVIEW_ENV) == HALF_BLOCKS or multiplexed or not sys.stdout.isatty():
        return HALF_BLOCKS
    # A terminal that does not answer textual-image's cell-size query within its timeout makes it log a warning
    # with a traceback on stderr, before the dashboard's screen starts and after it ends; the answer (VT340 cell
    # sizes) is fine, so the warning is not the user's concern.
    logging.getLogger("textual_image").setLevel(logging.ERROR)
    try:
        from textual_image.renderable import Image as best
        from textual_image.renderable import SixelImage, TGPImage
        from textual_image.widget import Image as widget
    except Exception:  # noqa: BLE001 - not installed, or a terminal query that failed: draw half-blocks
        return HALF_BLOCKS
    if best is SixelImage or best is TGPImage:
        _widget = widget
        return "sixel" if best is SixelImage else "kitty"
    return HALF_BLOCKS


def use_graphics_widget(widget: type | None) -> None:
    """Set the widget class directly (tests stand textual-image's half-cell widget in for a graphics one)."""
    global _widget
    _widget = widget
