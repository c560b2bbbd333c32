"""Pascal VOC segmentation folders and CVAT's "Segmentation mask 1.1" export: SegmentationClass/NAME.png masks (palette
PNGs of class ids, or colours named by labelmap.txt), images in JPEGImages/, splits in ImageSets/Segmentation/*.txt.
255 (VOC's cream boundary colour) marks pixels to ignore. Without labelmap.txt the classes are VOC's 21. NAME may
hold spaces, and CVAT writes it with the task's subfolders (`batch0/cat 1`) when its images were in folders."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np

from core.data.export_types import ALL, LabelledExport
from core.data.image_files import decode, files_under
from core.data.samples import Sample
from core.errors import DataError

MASKS = "SegmentationClass"
IMAGES = "JPEGImages"
LISTS = Path("ImageSets") / "Segmentation"
LABELMAP = "labelmap.txt"
CVAT_HEADER = "# label:color_rgb:parts:actions"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IGNORE = 255
GREY_MODES = ("L", "I", "I;16", "I;16B", "I;16L")  # one channel of values, not a palette
BOUNDARY_COLOUR = (224, 224, 192)  # VOC's palette entry 255: object boundaries and "difficult" pixels
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


def voc_colour(index: int) -> tuple[int, int, int]:
    """Pascal VOC's palette colour of class `index` (the bit-interleaving colormap of its devkit)."""
    red = green = blue = 0
    for shift in range(7, -1, -1):
        red |= ((index >> 0) & 1) << shift
        green |= ((index >> 1) & 1) << shift
        blue |= ((index >> 2) & 1) << shift
        index >>= 3
    return red, green, blue


def is_voc_export(root: Path) -> bool:
    return Path(root).is_dir() and (Path(root) / MASKS).is_dir()


def read_labelmap(path: Path) -> tuple[tuple[str, ...], tuple[tuple[int, int, int], ...]]:
    """Names and colours of a labelmap.txt (`name:r,g,b:parts:actions` a line, background first)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read ({error})") from None
    names: list[str] = []
    colours: list[tuple[int, int, int]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition(":")
        parts = rest.split(":")[0].split(",")
        try:
            colour = tuple(int(part) for part in parts)
        except ValueError:
            colour = ()
        if not name.strip() or len(colour) != 3 or not all(0 <= value <= 255 for value in colour):
            raise DataError(path, f"line {number}: expected name:r,g,b:parts:actions, got {line.strip()!r}")
        if colour in colours:
            raise DataError(path, f"line {number}: colour {colour} is also {names[colours.index(colour)]!r}'s")
        names.append(name.strip())
        colours.append(colour)  # type: ignore[arg-type]
    if len(names) < 2:
        raise DataError(path, "names fewer than 2 labels (background and at least one class)")
    return tuple(names), tuple(colours)


def read_voc(root: Path) -> LabelledExport:
    root = Path(root)
    labelmap = root / LABELMAP
    if labelmap.is_file():
        names, _ = read_labelmap(labelmap)
        text = labelmap.read_text(encoding="utf-8", errors="replace")
        first = next((line for line in text.splitlines() if line.strip()), "")
        cvat = "".join(first.split()).lower().startswith("#label:color")  # CVAT's header, in any of its spellings
        fmt, title = ("cvat", "CVAT mask export") if cvat else ("voc", "Pascal VOC export (labelmap.txt)")
    else:
        names, fmt, title = VOC_CLASSES, "voc", "Pascal VOC export"
    masks = _named_files(root / MASKS, (".png",))
    if not masks:
        raise DataError(root / MASKS, "holds no .png masks")
    images = _images(root)
    lists = _split_lists(root, masks)
    samples: dict[str, list[Sample]] = {}
    stems = Counter(Path(name).name for name in masks)
    for split, listed in lists.items():
        chosen = []
        for name in listed:
            if name not in images:
                raise DataError(masks[name], f"has no image: no {IMAGES}/{name}.jpg (or .jpeg, .png)")
            # a CVAT task's subfolder joins the name only where two subfolders hold the same file name
            sample_name = Path(name).name if stems[Path(name).name] == 1 else name.replace("/", "_")
            chosen.append(Sample(sample_name, images[name], masks[name], "voc", context=root))
        samples[split] = chosen
    warnings = []
    unmasked = sorted(set(images) - set(masks))
    if unmasked:
        warnings.append(f"{root / IMAGES}: {len(unmasked)} image{'s' if len(unmasked) > 1 else ''} without a mask in "
                        f"{MASKS}/ (left out), e.g. {', '.join(unmasked[:3])}")
    listed = {name for names in lists.values() for name in names}
    unlisted = sorted(set(masks) - listed)
    if unlisted:
        warnings.append(f"{root / LISTS}: {len(unlisted)} mask{'s' if len(unlisted) > 1 else ''} of {MASKS}/ in no "
                        f"list (left out), e.g. {', '.join(unlisted[:3])}")
    return LabelledExport(root, fmt, title, names, samples, annotated=len(listed), ignore_index=IGNORE,
                          warnings=warnings)


def render_voc(sample: Sample) -> np.ndarray:
    """Class ids (255: ignore) of one mask: palette indices or grey values as they are, colours through
    labelmap.txt (or VOC's palette without one). A grey mask beside a labelmap.txt is read as colours when its
    greys are labelmap colours, else as class ids."""
    colours = _colour_table(sample.context)
    image = decode(sample.mask)
    grey = image.mode in GREY_MODES
    if (image.mode == "P" and colours is None) or grey:
        ids = np.asarray(image)
        values = {int(v) for v in np.unique(ids)}
        if colours is None:
            bad = sorted(values - set(range(len(VOC_CLASSES))) - {IGNORE})
            if bad:
                raise DataError(sample.mask, f"class id {bad[0]} beyond Pascal VOC's {len(VOC_CLASSES) - 1} "
                                             f"classes; name the classes in {LABELMAP}")
            return ids.astype(np.uint8)
        if not all((v, v, v) in colours or (v, v, v) == BOUNDARY_COLOUR for v in values):
            bad = sorted(values - set(range(len(colours))) - {IGNORE})
            if bad:
                raise DataError(sample.mask, f"a grey mask (class ids) with value {bad[0]}, but {LABELMAP} names "
                                             f"{len(colours)} classes (0..{len(colours) - 1}; 255 ignores) and no "
                                             f"grey colour {bad[0]},{bad[0]},{bad[0]}")
            return ids.astype(np.uint8)
        image = image.convert("L")
    table = colours if colours is not None else {voc_colour(i): i for i in range(len(VOC_CLASSES))}
    table = {**table, BOUNDARY_COLOUR: IGNORE}
    rgb = np.asarray(image.convert("RGB")).astype(np.int32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    values, inverse = np.unique(packed, return_inverse=True)
    lookup = np.zeros(len(values), dtype=np.uint8)
    for position, value in enumerate(values):
        colour = (int(value) >> 16, (int(value) >> 8) & 255, int(value) & 255)
        if colour not in table:
            y, x = np.argwhere(packed == value)[0]
            known = LABELMAP if colours is not None else "Pascal VOC's palette"
            raise DataError(sample.mask, f"colour {colour} (first at x={x}, y={y}) is not in {known}")
        lookup[position] = table[colour]
    return lookup[inverse].reshape(packed.shape)


def _colour_table(root: Path | None) -> dict[tuple[int, int, int], int] | None:
    if root is None or not (Path(root) / LABELMAP).is_file():
        return None
    path = Path(root) / LABELMAP
    stat = path.stat()
    return _cached_colours(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _cached_colours(path: Path, _mtime_ns: int, _size: int) -> dict[tuple[int, int, int], int]:
    _, colours = read_labelmap(path)
    return {colour: class_id for class_id, colour in enumerate(colours)}


def _images(root: Path) -> dict[str, Path]:
    folder = root / IMAGES
    if not folder.is_dir():
        raise DataError(root, f"has {MASKS}/ but no {IMAGES}/ with the images (CVAT: export with 'Save images')")
    return _named_files(folder, IMAGE_SUFFIXES)


def _named_files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """The files under `folder` (subfolders too, hidden ones left out) by their VOC name: the path below it
    without the suffix."""
    return {path.relative_to(folder).with_suffix("").as_posix(): path for path in files_under(folder, suffixes)}


def _split_lists(root: Path, masks: dict[str, Path]) -> dict[str, list[str]]:
    """train/val/test from ImageSets/Segmentation when train.txt and val.txt are there; else the names of any
    list there (CVAT's default.txt, trainval.txt) or every mask, as ALL."""
    folder = root / LISTS
    lists = {path.stem: path for path in sorted(folder.glob("*.txt"))} if folder.is_dir() else {}
    if "train" in lists and "val" in lists:
        chosen = [(split, lists[split]) for split in ("train", "val", "test") if split in lists]
    elif lists:
        chosen = [(ALL, path) for path in lists.values()]
    else:
        return {ALL: sorted(masks)}
    names: dict[str, list[str]] = {}
    for split, path in chosen:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            name = _listed_name(line, masks)
            if not name:
                continue
            if name not in masks:
                raise DataError(path, f"line {number}: {name} has no {MASKS}/{name}.png")
            if name not in names.setdefault(split, []):
                names[split].append(name)
    return names


def _listed_name(line: str, masks: dict[str, Path]) -> str:
    """The name a list line gives: the whole line (a name may hold spaces), or the name before a trailing
    `-1`/`0`/`1` flag as VOC's ImageSets/Main lists write, or the line's first word when that alone is a mask."""
    name = line.strip()
    if name in masks or not name:
        return name
    head, _, flag = name.rpartition(" ")
    if flag in ("-1", "0", "1") and head.strip() in masks:
        return head.strip()
    first = name.split()[0]
    return first if first in masks else name
