"""Opening an image file whatever it really is: frame 0 fully decoded, turned the way its EXIF orientation says, too
large or damaged files refused as one DataError; and listing the image files under a folder. Image and mask readers of
every layout build on it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from core.errors import DataError

EXIF_ORIENTATION = 0x0112


def decode(path: Path) -> Image.Image:
    """Open and fully decode frame 0 of `path`, sniffing the format from the content, not the suffix."""
    if not path.is_file():
        raise DataError(path, "no such file")
    if path.stat().st_size == 0:
        raise DataError(path, "cannot read image (empty file, 0 bytes)")
    try:
        with Image.open(path) as opened:
            # Pillow only raises for images over twice MAX_IMAGE_PIXELS and merely warns above it; a warning
            # filter is not thread-safe, so the lower limit is checked here by hand.
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and opened.width * opened.height > limit:
                raise DataError(path, too_large(opened.width, opened.height, limit))
            opened.seek(0)
            opened.load()
            # A phone photo's pixels are stored sideways with an EXIF orientation tag; turn them the way every
            # viewer shows them, so a mask drawn on the shown image fits (a new image, detached from the file).
            if exif_orientation(opened) > 1:
                return ImageOps.exif_transpose(opened)
            # load() closed a one-frame file itself and its pixels outlive the with block (which closes files,
            # never pixels): no copy. A many-frame file stays open for seeking, so frame 0 is copied off it.
            return opened if opened.fp is None else opened.copy()
    except DataError:
        raise
    except Image.DecompressionBombError as error:
        raise DataError(path, f"image too large ({one_line(error)})") from error
    # Decoders raise many types for damaged files (OSError, SyntaxError, ValueError, EOFError, struct.error...);
    # all of them mean the same to the user: this file cannot be read.
    except Exception as error:
        raise DataError(path, f"cannot read image ({one_line(error)})") from error


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright, 2-8 = flipped and/or turned), 1 where there is none."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not make a readable image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def too_large(width: int, height: int, limit: int) -> str:
    return f"image too large ({width}x{height} = {width * height} pixels, limit {limit})"


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def files_under(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The files under `folder` with one of `suffixes` (any case), subfolders too but hidden ones left out (as
    a shell's or Ultralytics' `**` glob reads them), sorted."""
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in suffixes and path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts))
