"""What mask values mean: the task (binary or multiclass), the classes' names and count, the value left out of
loss and metrics, and how each mask file's values become class ids. No torch, no config: both build on this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError

TASKS = ("binary", "multiclass")
MAX_CLASSES = 255  # class ids are stored as uint8, 255 being the usual ignore value
NO_IGNORE = -1
CLASSES_FILE = "classes.txt"  # one class name a line, background first, beside images/ (or train/)
OXFORD_CLASSES = ("background", "pet", "border")
TRIMAP_TO_CLASS = {2: 0, 1: 1, 3: 2}  # Oxford trimap value -> class id
SYNTHETIC_CLASSES = ("background", "blob", "rectangle", "triangle")  # what `generate_synthetic` draws, in order
BINARY_NAMES = ("background", "foreground")
# Class colours for overlays and palette masks: background black, then the binary overlay's red first.
CLASS_COLOURS = ((0, 0, 0), (255, 40, 40), (40, 120, 255), (255, 200, 0), (0, 200, 120), (200, 60, 255),
                 (255, 120, 0), (0, 220, 255), (150, 90, 40), (255, 105, 180), (128, 128, 0))


@dataclass(frozen=True)
class Labels:
    """How a run reads its masks and names what it predicts. Binary: 0 background, 1 foreground, one output
    channel. Multiclass: ids 0..classes-1 (0 background), one output channel per class, `ignore_index` pixels
    (when >= 0) counted nowhere."""

    task: str = "binary"
    names: tuple[str, ...] = BINARY_NAMES
    ignore_index: int = NO_IGNORE

    @property
    def multiclass(self) -> bool:
        return self.task == "multiclass"

    @property
    def classes(self) -> int:
        return len(self.names)

    @property
    def out_channels(self) -> int:
        return self.classes if self.multiclass else 1

    @property
    def foreground_names(self) -> tuple[str, ...]:
        return self.names[1:]

    def cache_key(self) -> str:
        """What the decoded masks depend on beyond the files: empty for binary, so its caches stay as they were."""
        return f" {self.task} {self.names} ignore {self.ignore_index}" if self.multiclass else ""

    def legend(self) -> list[dict]:
        """Class id, name and overlay colour of every class, for summary.json and the dashboard."""
        return [{"id": index, "name": name, "color": list(class_colour(index))}
                for index, name in enumerate(self.names)]


BINARY = Labels()


def class_colour(index: int) -> tuple[int, int, int]:
    """The overlay colour of class `index`; past the table, colours are spread around the hue circle."""
    if index < len(CLASS_COLOURS):
        return CLASS_COLOURS[index]
    import colorsys

    red, green, blue = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.8, 1.0)
    return round(red * 255), round(green * 255), round(blue * 255)


def palette(classes: int) -> list[int]:
    """A flat 768-value PNG palette giving class i its overlay colour (the rest grey)."""
    values = []
    for index in range(256):
        values.extend(class_colour(index) if index < classes else (128, 128, 128))
    return values


def generic_names(classes: int) -> tuple[str, ...]:
    return ("background", *(f"class {index}" for index in range(1, classes)))


def read_class_names(path: Path) -> tuple[str, ...]:
    """The names in a classes.txt: one a line, background first; blank lines and # comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read class names ({error})") from error
    names = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    if len(names) < 2:
        raise DataError(path, f"names {len(names)} class(es); a multiclass dataset needs background and at least "
                              "one more, one name a line")
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise DataError(path, f"names {', '.join(repeated)} more than once")
    return names


def folder_class_names(root: Path, classes: int) -> tuple[str, ...] | None:
    """A folder dataset's class names: from its classes.txt (checked against `classes` when that is given, > 0),
    else generic names for `classes`, else None (the data does not say how many)."""
    path = root / CLASSES_FILE
    if path.is_file():
        names = read_class_names(path)
        if classes and len(names) < classes:
            raise DataError(path, f"names {len(names)} classes but --classes is {classes}; give one name a line for "
                                  "every class, background first")
        if classes and len(names) > classes:
            raise DataError(path, f"names {len(names)} classes but --classes is {classes}; drop --classes or the "
                                  "extra names")
        return names
    return generic_names(classes) if classes else None
