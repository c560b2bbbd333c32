"""The fast PNG writer: what Pillow (and zlib's own reader) decode from its files is exactly the array written,
for grey, RGB and palette images, with ISA-L or zlib deflating."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import core.png_writer
from core.data.labels import palette
from core.png_writer import encode_png, write_png

PHOTO = Path(__file__).parents[1] / "fixtures" / "oxford-pet-tiny" / "images" / "Abyssinian_192.jpg"


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # checks every chunk's CRC and the deflate stream
    return image


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 48), (5, 300)])
def test_grey_and_rgb_pixels_come_back_exactly(shape):
    rng = np.random.default_rng(sum(shape))
    grey = rng.integers(0, 256, shape, dtype=np.uint8)
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert decoded(encode_png(grey)).mode == "L"
    assert np.array_equal(np.asarray(decoded(encode_png(grey))), grey)
    assert decoded(encode_png(rgb)).mode == "RGB"
    assert np.array_equal(np.asarray(decoded(encode_png(rgb))), rgb)


def test_a_palette_image_keeps_its_indices_and_colours():
    ids = np.random.default_rng(3).integers(0, 4, (20, 30), dtype=np.uint8)
    image = decoded(encode_png(ids, palette(4)))
    assert image.mode == "P"
    assert np.array_equal(np.asarray(image), ids)
    assert image.getpalette()[:12] == palette(4)[:12]
    assert np.array_equal(np.asarray(image.convert("RGB"))[ids == 1][0], palette(4)[3:6])


def test_a_strided_view_is_written_as_its_values():
    rgb = np.random.default_rng(4).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    view = rgb[::2, 5:30]
    assert np.array_equal(np.asarray(decoded(encode_png(view))), view)


def test_zlib_alone_writes_the_same_pixels(monkeypatch):
    rgb = np.random.default_rng(5).integers(0, 256, (33, 17, 3), dtype=np.uint8)
    monkeypatch.setattr(core.png_writer, "_deflate", zlib)
    assert np.array_equal(np.asarray(decoded(encode_png(rgb))), rgb)


def test_a_photo_is_compressed_like_pillows_level_1():
    """The Up filter on a real photo: no bigger than 1.15x what Pillow writes at compress_level 1."""
    photo = Image.open(PHOTO).convert("RGB")
    ours = len(encode_png(np.asarray(photo)))
    pillow = io.BytesIO()
    photo.save(pillow, format="PNG", compress_level=1)
    assert ours < 1.15 * pillow.tell()
    assert ours < 0.8 * photo.width * photo.height * 3


def test_write_png_puts_the_file_in_place(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    write_png(tmp_path / "m.png", grey)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "m.png")), grey)
    assert [path.name for path in tmp_path.iterdir()] == ["m.png"]


@pytest.mark.parametrize("pixels, palette_values, words", [
    (np.zeros((4, 4), dtype=np.uint16), None, "uint8"),
    (np.zeros((4, 4, 4), dtype=np.uint8), None, "4x4x4"),
    (np.zeros((0, 4), dtype=np.uint8), None, "one pixel"),
    (np.zeros((4, 4), dtype=np.uint8), [1, 2], "2 values"),
])
def test_bad_arrays_are_refused_with_what_is_wrong(pixels, palette_values, words):
    with pytest.raises(ValueError, match=words):
        encode_png(pixels, palette_values)
