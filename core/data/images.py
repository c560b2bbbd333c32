"""Decode image and mask files into RGB images and masks of 0/1 (binary) or class ids (multiclass), turning every
bad file into a DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.data.exports import render_mask
from core.data.image_files import decode, one_line
from core.data.labelme import embedded_image
from core.data.labels import BINARY, TRIMAP_TO_CLASS, Labels
from core.data.samples import EXPORT_MASK_KINDS, FILE_MASK_KINDS, Sample
from core.errors import ConfigError, DataError

TRIMAP_VALUES = frozenset({1, 2, 3})
TRIMAP_FOREGROUND = (1, 3)  # pet and its border count as pet, as in the original experiment
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def open_rgb(path: str | Path) -> Image.Image:
    """The image at `path` as a fully loaded 8-bit RGB image, whatever its real format or mode (a LabelMe JSON: the
    image its imageData holds)."""
    image = embedded_image(Path(path)) if Path(path).suffix.lower() == ".json" else decode(Path(path))
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        # Pillow's own convert clips 16-bit values at 255, which turns most of a 16-bit photo white.
        image = Image.fromarray(_scale_to_uint8(np.asarray(image)), mode="L")
    try:
        return image if image.mode == "RGB" else image.convert("RGB")  # convert("RGB") of an RGB image copies it
    except (ValueError, OSError) as error:
        raise DataError(path, f"cannot convert image mode {image.mode} to RGB ({one_line(error)})") from error


def open_mask(path: str | Path, kind: str, labels: Labels = BINARY) -> np.ndarray:
    """The mask at `path` as a uint8 HxW array: 0/1 for a binary task, class ids for a multiclass one.

    kind "trimap": Oxford trimap, values 1 pet, 2 background, 3 border and nothing else; binary: pet and border
    are foreground; multiclass: background 0, pet 1, border 2.
    kind "binary" (a folder's masks): binary: any non-zero value (in any colour channel) is foreground;
    multiclass: the values are class ids 0..classes-1 (grey or palette PNG), `labels.ignore_index` kept as is.
    """
    if kind not in FILE_MASK_KINDS:
        raise ConfigError(f"mask kind: {kind!r} is not one of {', '.join(FILE_MASK_KINDS)}")
    path = Path(path)
    values = _mask_values(path, decode(path), one_channel=kind == "trimap" or labels.multiclass)
    if kind == "binary":
        return _class_ids(path, values, labels) if labels.multiclass else (values != 0).astype(np.uint8)
    found = {int(value) for value in np.unique(values)}
    unexpected = found - TRIMAP_VALUES
    if unexpected:
        raise DataError(
            path, f"mask values {_format_values(unexpected)} outside trimap values {_format_values(TRIMAP_VALUES)}"
        )
    if labels.multiclass:
        lookup = np.zeros(max(TRIMAP_VALUES) + 1, dtype=np.uint8)
        for trimap_value, class_id in TRIMAP_TO_CLASS.items():
            lookup[trimap_value] = class_id
        return lookup[values]
    return np.isin(values, TRIMAP_FOREGROUND).astype(np.uint8)


def _class_ids(path: Path, values: np.ndarray, labels: Labels) -> np.ndarray:
    """A multiclass mask's values, checked to be class ids (or the ignore value), as uint8."""
    found = {int(value) for value in np.unique(values)}
    bad = {value for value in found if not 0 <= value < labels.classes and value != labels.ignore_index}
    if bad:
        ignore = f", ignore value {labels.ignore_index}" if labels.ignore_index >= 0 else ""
        hint = ""
        if labels.ignore_index < 0 and 255 in bad:
            hint = "; if 255 marks pixels to ignore, add --ignore-index 255"
            if found <= {0, 255}:  # the binary layout's masks
                hint = ("; a mask of only 0 and 255 is a binary one: leave out --task multiclass (or, if 255 marks "
                        "pixels to ignore, add --ignore-index 255)")
        raise DataError(path, f"mask value{'s' if len(bad) > 1 else ''} {_format_values(bad)} not a class id 0.."
                              f"{labels.classes - 1} ({labels.classes} classes{ignore}){hint}")
    return values.astype(np.uint8)


def load_pair(sample: Sample, labels: Labels = BINARY) -> tuple[Image.Image, np.ndarray]:
    """The sample's RGB image and its mask (0/1, or class ids for a multiclass `labels`), checked to be the same
    size. A labelling tool's export has its mask painted from the annotations (any class but 0 is foreground for a
    binary task)."""
    if sample.mask_kind in EXPORT_MASK_KINDS:
        image = open_rgb(sample.image)
        ids = render_mask(sample, image.size)
        source = sample.mask or sample.image
        mask = _class_ids(source, ids, labels) if labels.multiclass else (ids != 0).astype(np.uint8)
        return image, _same_size(sample, image, mask)
    if sample.mask is None:
        raise DataError(sample.image, "has no mask to train or evaluate on")
    image = open_rgb(sample.image)
    mask = open_mask(sample.mask, sample.mask_kind, labels)
    return image, _same_size(sample, image, mask)


def _same_size(sample: Sample, image: Image.Image, mask: np.ndarray) -> np.ndarray:
    mask_height, mask_width = mask.shape
    if image.size != (mask_width, mask_height):
        raise DataError(
            sample.mask or sample.image,
            f"image is {image.width}x{image.height} but mask is {mask_width}x{mask_height} (image: {sample.image})",
        )
    return mask


def _mask_values(path: Path, mask: Image.Image, one_channel: bool) -> np.ndarray:
    """The mask's per-pixel values as an HxW array (palette indices for "P", as Oxford trimaps may be saved)."""
    if mask.mode in ("L", "P", "1", "I", "F") or mask.mode in _SIXTEEN_BIT_MODES:
        return np.asarray(mask)
    if mask.mode in ("LA", "PA"):
        return np.asarray(mask.getchannel(0))
    if mask.mode in ("RGB", "RGBA", "RGBX"):
        # Only the colour channels: alpha is usually 255 everywhere and would make every pixel foreground.
        colours = np.asarray(mask.convert("RGB"))
        if not one_channel:
            return colours.max(axis=2)
        if (colours == colours[..., :1]).all():  # a trimap or class-id mask saved as grey RGB: one value per pixel
            return colours[..., 0]
        raise DataError(path, f"a trimap or class-id mask must have one channel (grey or palette), got colour mode "
                              f"{mask.mode}")
    raise DataError(path, f"unsupported mask mode {mask.mode}")


def _scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """16- or 32-bit grey values as 0..255: kept when they already fit, else scaled from 16 bit or min..max."""
    values = values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high <= 255:
        scaled = values
    elif low >= 0 and high <= 65535:
        scaled = values / 257.0
    else:
        scaled = (values - low) * (255.0 / max(high - low, 1e-12))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _format_values(values) -> str:
    """A set of ints as "{0, 7}", cut short when a broken mask holds hundreds of values."""
    ordered = sorted(values)
    shown = ", ".join(str(value) for value in ordered[:10])
    more = f", ... ({len(ordered)} values)" if len(ordered) > 10 else ""
    return "{" + shown + more + "}"
