"""Decoding images and masks: every real-world mode becomes RGB / 0-1, every broken file a one-line DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data.images import load_pair, open_mask, open_rgb
from core.data.samples import Sample
from core.errors import DataError

QUIRKS = Path(__file__).parents[1] / "fixtures" / "oxford-pet-quirks"


def save(array: np.ndarray, path: Path, mode: str | None = None, **options) -> Path:
    Image.fromarray(array, mode=mode).save(path, **options)
    return path


def assert_data_error_names(error: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(error.value)
    assert str(path) in message
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("L", ".png"), ("RGBA", ".png"), ("CMYK", ".jpg"), ("P", ".gif"), ("1", ".png"), ("LA", ".png")],
)
def test_images_of_any_mode_load_as_rgb_with_their_size(tmp_path, mode, suffix):
    path = tmp_path / f"picture{suffix}"
    Image.new("RGB", (40, 32), (200, 120, 40)).convert(mode).save(path)
    image = open_rgb(path)
    assert image.mode == "RGB"
    assert image.size == (40, 32)


def test_sixteen_bit_grey_is_scaled_to_eight_bit_not_clipped_white(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 48).astype(np.uint16), (32, 1))
    path = tmp_path / "depth.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode in ("I;16", "I")
    pixels = np.asarray(open_rgb(path))
    assert pixels.shape == (32, 48, 3)
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[0, -1].tolist() == [255, 255, 255]
    assert 120 <= pixels[0, 24, 0] <= 135  # mid-grey stays mid-grey


def test_file_whose_content_is_not_what_its_suffix_says_is_sniffed(tmp_path):
    path = save(np.full((20, 30, 3), 90, np.uint8), tmp_path / "really_png.jpg", format="PNG")
    assert open_rgb(path).size == (30, 20)


def test_quirk_files_of_the_real_dataset_load_as_rgb():
    gif = open_rgb(QUIRKS / "images" / "Abyssinian_34.jpg")
    rgba_png = open_rgb(QUIRKS / "images" / "Abyssinian_5.jpg")
    assert (gif.mode, gif.size) == ("RGB", (250, 202))
    assert (rgba_png.mode, rgba_png.size) == ("RGB", (200, 150))


def test_truncated_jpeg_names_the_file_and_says_it_cannot_be_read(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = save(noise, tmp_path / "whole.jpg", quality=90).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as error:
        open_rgb(path)
    assert_data_error_names(error, path, "cannot read image")


def test_zero_byte_image_names_the_file_and_says_it_is_empty(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(DataError) as error:
        open_rgb(path)
    assert_data_error_names(error, path, "empty file")


def test_text_file_named_as_image_is_a_data_error(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(DataError) as error:
        open_rgb(path)
    assert_data_error_names(error, path, "cannot read image")


def test_missing_image_is_a_data_error(tmp_path):
    with pytest.raises(DataError) as error:
        open_rgb(tmp_path / "gone.jpg")
    assert_data_error_names(error, tmp_path / "gone.jpg", "no such file")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("pixel_limit", [1000, 500])  # Pillow itself raises only above twice its limit
def test_image_over_the_pixel_limit_is_refused_as_too_large(tmp_path, monkeypatch, pixel_limit):
    path = save(np.zeros((40, 40, 3), np.uint8), tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixel_limit)
    with pytest.raises(DataError) as error:
        open_rgb(path)
    assert_data_error_names(error, path, "image too large")


def test_trimap_pet_and_border_are_foreground_background_is_not(tmp_path):
    trimap = np.array([[1, 2, 3], [2, 2, 1]], np.uint8)
    mask = open_mask(save(trimap, tmp_path / "t.png"), "trimap")
    assert mask.dtype == np.uint8
    assert mask.tolist() == [[1, 0, 1], [0, 0, 1]]


def test_trimap_with_foreign_values_names_them(tmp_path):
    path = save(np.array([[0, 1, 7], [2, 3, 7]], np.uint8), tmp_path / "bad.png")
    with pytest.raises(DataError) as error:
        open_mask(path, "trimap")
    assert_data_error_names(error, path, "mask values {0, 7} outside trimap values {1, 2, 3}")


@pytest.mark.parametrize("mode", ["L", "P", "1", "I;16", "RGB", "RGBA"])
def test_binary_masks_of_any_mode_mark_non_zero_as_foreground(tmp_path, mode):
    values = np.array([[0, 255, 0], [255, 255, 0]], np.uint8)
    path = tmp_path / "mask.png"
    image = Image.fromarray(values)
    image = image.convert("I").convert(mode) if mode == "I;16" else image.convert(mode)
    if mode == "RGBA":  # opaque everywhere: alpha must not count as foreground
        image.putalpha(255)
    image.save(path)
    assert open_mask(path, "binary").tolist() == [[0, 1, 0], [1, 1, 0]]


def test_colour_binary_mask_counts_any_non_zero_channel(tmp_path):
    colours = np.zeros((2, 2, 3), np.uint8)
    colours[0, 1] = (0, 0, 128)
    mask = open_mask(save(colours, tmp_path / "blue.png"), "binary")
    assert mask.tolist() == [[0, 1], [0, 0]]


def test_quirk_trimap_with_only_background_gives_an_empty_mask():
    mask = open_mask(QUIRKS / "annotations" / "trimaps" / "Abyssinian_34.png", "trimap")
    assert mask.shape == (202, 250)
    assert mask.sum() == 0


def test_image_and_mask_of_different_sizes_name_both_sizes(tmp_path):
    image = save(np.zeros((32, 48, 3), np.uint8), tmp_path / "cat.png")
    mask = save(np.zeros((30, 48), np.uint8), tmp_path / "cat_mask.png")
    with pytest.raises(DataError) as error:
        load_pair(Sample("cat", image, mask, "binary"))
    assert_data_error_names(error, mask, "image is 48x32 but mask is 48x30", str(image))


def test_load_pair_gives_rgb_image_and_mask_of_the_same_size(tmp_path):
    image = save(np.zeros((32, 48), np.uint8), tmp_path / "grey.png")
    mask = save(np.full((32, 48), 9, np.uint8), tmp_path / "mask.png")
    rgb, binary = load_pair(Sample("grey", image, mask, "binary"))
    assert rgb.mode == "RGB" and rgb.size == (48, 32)
    assert binary.shape == (32, 48) and binary.min() == 1


def phone_photo(path: Path, stored: tuple[int, int] = (40, 24), orientation: int = 6) -> Path:
    """A JPEG stored sideways, as phones save them: `stored` (width, height) pixels plus an EXIF orientation tag.
    A red block marks the stored top-left corner, so where it ends up shows which way the image was turned."""
    pixels = np.full((stored[1], stored[0], 3), (40, 120, 200), np.uint8)
    pixels[:8, :8] = (230, 20, 20)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    return path


def test_a_phone_photo_with_exif_orientation_6_loads_upright_at_its_displayed_size(tmp_path):
    photo = open_rgb(phone_photo(tmp_path / "phone.jpg"))
    assert photo.size == (24, 40)  # shown turned a quarter clockwise: 24 wide, 40 tall
    pixels = np.asarray(photo)
    assert pixels[:6, -6:].mean(axis=(0, 1))[0] > 180  # the stored top-left is now the top-right
    assert pixels[:6, :6].mean(axis=(0, 1))[0] < 100
    mask = tmp_path / "mask.png"
    save(np.zeros((40, 24), np.uint8), mask)  # drawn on the image as it is shown
    image, loaded = load_pair(Sample(name="phone", image=tmp_path / "phone.jpg", mask=mask, mask_kind="binary"))
    assert image.size == (24, 40) and loaded.shape == (40, 24)


def test_a_many_frame_gif_gives_its_first_frame_and_no_file_is_left_open(tmp_path):
    import os

    path = tmp_path / "animated.gif"
    frames = [Image.new("RGB", (8, 6), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    still = tmp_path / "still.jpg"
    frames[1].save(still, quality=95)
    open_files = len(os.listdir("/proc/self/fd"))
    first, photo = open_rgb(path), open_rgb(still)
    assert len(os.listdir("/proc/self/fd")) == open_files
    assert np.asarray(first)[0, 0].tolist() == [255, 0, 0] and first.size == (8, 6)
    assert np.asarray(photo)[..., 2].min() > 240 and np.asarray(photo.convert("L")).shape == (6, 8)
