"""Generate a synthetic folder dataset: textured backgrounds with blobby foreground shapes, learnable but not trivial.

Foreground and background share colours (the shapes are the background's colour shifted by a modest amount,
and background distractor blobs get the same kind of shift), so no colour threshold finds the shapes; what
gives them away is their fine "fur" texture and their outline, which a small conv net learns in minutes.

The multiclass set (`classes` 2 to 4) draws a shape of every kind in each image as classes 1.. (blobs, rectangles,
triangles), each kind with its own outline, texture and brightness change, and writes their names to classes.txt;
a width-16 UNet at 64 px passes mean foreground val Dice 0.85 (3 classes) in 8 epochs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
from PIL import Image

from core.atomic_files import staging_folder
from core.data.labels import CLASSES_FILE, SYNTHETIC_CLASSES
from core.errors import ConfigError
from core.processes import pid_is_alive

SPLIT_SHARES = (("val", 0.1), ("test", 0.1))  # train gets the rest
MIN_SIZE = 16
MARKER = "synthetic.json"  # written last: its presence means the folder is complete

# Appearance, in 0..1 intensity units; each range is drawn per image. Tuned (300 images, 128 px) so a width-16
# UNet (AdamW 5e-4, batch 16) passes val Dice 0.9 by epoch 3-5, while the best single-channel threshold
# reaches only IoU ~0.55 and the fg/bg mean-colour gap is ~1x the within-class spread.
BACKGROUND_TEXTURE = (0.03, 0.06)  # amplitude of the background's medium-scale grey noise
FUR_TEXTURE = (0.14, 0.2)  # amplitude of the foreground's fine grey noise: its main give-away
FUR_PERIOD = (3, 6)  # fur noise lattice spacing in pixels
BRIGHTNESS_SHIFT = (0.06, 0.16)  # foreground (and distractor) brightness change, either sign
HUE_SHIFT = (0.04, 0.12)  # length of the zero-mean RGB offset that changes the hue
SHAPE_RADIUS = (0.15, 0.3)  # foreground shape radius as a share of the image side
DISTRACTOR_RADIUS = (0.06, 0.14)
PIXEL_NOISE = 0.02


def generate_synthetic(out: str | Path, count: int, size: int, seed: int, classes: int = 0) -> Path:
    """Write `count` size x size pairs into out/{train,val,test}/{images,masks}/ plus out/synthetic.json.

    classes 0: binary masks (0/255). classes 3..4: masks of class ids (0 background, then blob, rectangle,
    triangle) and out/classes.txt naming them. Same arguments, same bytes: image i draws only from a generator
    seeded with (seed, i).
    """
    if classes and not 2 <= classes <= len(SYNTHETIC_CLASSES):
        raise ConfigError(f"classes: the synthetic set has 2..{len(SYNTHETIC_CLASSES)} classes, got {classes}")
    if count < len(SPLIT_SHARES) + 1:
        raise ConfigError(f"synthetic_count: need at least 3 images (one per split), got {count}")
    if size < MIN_SIZE:
        raise ConfigError(f"synthetic_size: need at least {MIN_SIZE} pixels, got {size}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; the synthetic set is written to a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():  # a set made before may be redone
        raise ConfigError(f"{out}: holds other files; the synthetic pairs would mix with them (a folder with both "
                          "images/ and train/ reads only train/): give a new or empty folder")
    counts = split_counts(count)
    index = 0
    for split, split_count in counts.items():
        for folder in ("images", "masks"):
            (out / split / folder).mkdir(parents=True, exist_ok=True)
        for _ in range(split_count):
            rng = np.random.default_rng([seed, index])
            image, mask = synthetic_class_pair(size, rng, classes) if classes else synthetic_pair(size, rng)
            name = f"synth_{index:05d}.png"
            Image.fromarray(image, mode="RGB").save(out / split / "images" / name, compress_level=6)
            stored = mask if classes else mask * np.uint8(255)
            Image.fromarray(stored, mode="L").save(out / split / "masks" / name, compress_level=6)
            index += 1
    description = {"count": count, "size": size, "seed": seed, "splits": counts}
    if classes:
        description["classes"] = list(SYNTHETIC_CLASSES[:classes])
        (out / CLASSES_FILE).write_text("\n".join(SYNTHETIC_CLASSES[:classes]) + "\n", encoding="utf-8")
    (out / MARKER).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return out


def synthetic_dir(cache_root: str | Path, count: int, size: int, seed: int, classes: int = 0) -> Path:
    """Where the synthetic set for these arguments lives under `cache_root`."""
    return Path(cache_root) / f"synthetic-n{count}-s{size}-seed{seed}{f'-c{classes}' if classes else ''}"


UNNAMED_STAGING_AGE_S = 24 * 3600


def ensure_synthetic(cache_root: str | Path, count: int, size: int, seed: int, classes: int = 0) -> Path:
    """The synthetic set for these arguments, generated first unless a complete one is already cached."""
    target = synthetic_dir(cache_root, count, size, seed, classes)
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(target)
    # Generate beside the target and rename it into place, so a crash never leaves a half-written set
    # that a later run would mistake for a complete one. The folder's name says which process writes it.
    staging = staging_folder(target.parent, f".{target.name}-{socket.gethostname()}-{os.getpid()}-")
    try:
        generate_synthetic(staging, count, size, seed, classes)
        if target.exists() and not (target / MARKER).is_file():
            shutil.rmtree(target)  # left by a crash of an older version: incomplete by the marker rule
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / MARKER).is_file():  # not merely another process finishing first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def remove_abandoned_staging(target: Path) -> list[Path]:
    """Delete the staging folders of `target` whose process, on this host, is gone (killed by SIGTERM or kill -9
    mid-generation: a 100,000-image set leaves hundreds of MB nothing else would clean); returns them. Another
    host's folders (a shared cache) and a live process's are left alone."""
    removed = []
    for path in target.parent.glob(f".{target.name}-*"):
        host, _, rest = path.name.removeprefix(f".{target.name}-").rpartition("-")
        host, _, pid = host.rpartition("-")
        ours_and_dead = host == socket.gethostname() and pid.isdigit() and not pid_is_alive(int(pid))
        if (ours_and_dead or _old_unnamed(path, host)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _old_unnamed(path: Path, host: str) -> bool:
    """A staging folder named as seglab named them before they carried host and pid (.NAME-XXXXXXXX), untouched
    for a day: no generation of a set writes that long without a new file."""
    if host:
        return False
    try:
        return time.time() - path.stat().st_mtime > UNNAMED_STAGING_AGE_S
    except OSError:
        return False


def synthetic_pair(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One uint8 size x size x 3 image and its uint8 size x size mask of 0/1."""
    coarse = _background_colours(size, rng)
    background = coarse + _grey(_smooth_noise(size, max(size // 12, 2), 1, rng) * rng.uniform(*BACKGROUND_TEXTURE))
    for _ in range(rng.integers(1, 4)):  # distractors: background texture with a foreground-like colour shift
        background = _blend(background, background + _colour_shift(rng), _blob_alpha(size, rng, small=True))
    for _ in range(rng.integers(0, 3)):
        background = background + _grey(_stripes(size, rng))

    shift = _colour_shift(rng)  # one appearance for all shapes of an image, like one animal
    fur_cells = max(size // rng.integers(FUR_PERIOD[0], FUR_PERIOD[1]), 4)
    fur = _grey(_smooth_noise(size, fur_cells, 1, rng) * rng.uniform(*FUR_TEXTURE))
    foreground = coarse + shift + fur
    alpha = np.zeros((size, size), dtype=np.float64)
    for _ in range(rng.integers(1, 4)):
        alpha = np.maximum(alpha, _blob_alpha(size, rng, small=False))
    image = _blend(background, foreground, alpha) + rng.normal(0.0, PIXEL_NOISE, (size, size, 3))
    image_uint8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    return image_uint8, (alpha >= 0.5).astype(np.uint8)


def synthetic_class_pair(size: int, rng: np.random.Generator, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One uint8 size x size x 3 image and its uint8 mask of class ids: one shape of every kind 1..classes-1 and
    half the time one more of a random kind, in random order, later shapes covering earlier ones. A kind shows in
    its outline (blob, rectangle, triangle), its texture (fine fur, coarse mottling, stripes) and the direction of
    its brightness change (lighter, darker, a hue change)."""
    coarse = _background_colours(size, rng)
    image = coarse + _grey(_smooth_noise(size, max(size // 12, 2), 1, rng) * rng.uniform(*BACKGROUND_TEXTURE))
    mask = np.zeros((size, size), dtype=np.uint8)
    kinds = list(range(1, classes)) + ([int(rng.integers(1, classes))] if rng.random() < 0.5 else [])
    for kind in rng.permutation(kinds):
        alpha = _KIND_OUTLINES[int(kind)](size, rng)
        image = _blend(image, coarse + _kind_look(kind, size, rng), alpha)
        mask[alpha >= 0.5] = int(kind)
    image = image + rng.normal(0.0, PIXEL_NOISE, (size, size, 3))
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8), mask


def _kind_look(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """What a shape of `kind` adds to the background's colours: its brightness or hue change and its texture."""
    strength = rng.uniform(0.15, 0.25)
    if kind == 1:  # lighter, fine fur
        cells = max(size // int(rng.integers(*FUR_PERIOD)), 4)
        return strength + _grey(_smooth_noise(size, cells, 1, rng) * rng.uniform(*FUR_TEXTURE))
    if kind == 2:  # darker, coarse mottling
        return -strength + _grey(_smooth_noise(size, max(size // 16, 3), 1, rng) * rng.uniform(0.08, 0.14))
    hue = rng.normal(0.0, 1.0, 3)  # kind 3: a strong hue change, faint stripes
    hue -= hue.mean()
    return hue * (2 * strength / max(np.linalg.norm(hue), 1e-9)) + _grey(_stripes(size, rng) * 2)


def _rectangle_alpha(size: int, rng: np.random.Generator) -> np.ndarray:
    """Coverage (0..1, antialiased edge) of a rotated rectangle."""
    half_long, half_short = size * rng.uniform(0.16, 0.28), size * rng.uniform(0.11, 0.2)
    return _polygon_alpha(size, rng, lambda along, across: np.minimum(half_long - np.abs(along),
                                                                      half_short - np.abs(across)))


def _triangle_alpha(size: int, rng: np.random.Generator) -> np.ndarray:
    """Coverage (0..1, antialiased edge) of a rotated equilateral triangle."""
    inner = size * rng.uniform(0.08, 0.15)  # distance from the centre to each side

    def inside(along: np.ndarray, across: np.ndarray) -> np.ndarray:
        sides = [inner - (along * np.cos(angle) + across * np.sin(angle)) for angle in (0, 2 * np.pi / 3,
                                                                                         4 * np.pi / 3)]
        return np.minimum.reduce(sides)

    return _polygon_alpha(size, rng, inside)


def _polygon_alpha(size: int, rng: np.random.Generator, signed_distance) -> np.ndarray:
    centre = rng.uniform(0.2 * size, 0.8 * size, 2)
    rotation = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = xs - centre[0], ys - centre[1]
    along = dx * np.cos(rotation) + dy * np.sin(rotation)
    across = -dx * np.sin(rotation) + dy * np.cos(rotation)
    return np.clip(signed_distance(along, across) + 0.5, 0.0, 1.0)


def split_counts(count: int) -> dict[str, int]:
    held_out = {split: max(1, round(count * share)) for split, share in SPLIT_SHARES}
    return {"train": count - sum(held_out.values()), **held_out}


def _background_colours(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth gradient between two random colours plus low-frequency colour noise, size x size x 3."""
    start, end = rng.uniform(0.2, 0.8, 3), rng.uniform(0.2, 0.8, 3)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    along = xs * np.cos(angle) + ys * np.sin(angle)
    along = (along - along.min()) / max(along.max() - along.min(), 1e-9)
    gradient = start + (end - start) * along[..., None]
    return gradient + _smooth_noise(size, 3, 3, rng) * 0.08


def _colour_shift(rng: np.random.Generator) -> np.ndarray:
    """A modest random brightness change plus a hue-changing offset, as an RGB vector."""
    brightness = rng.choice((-1.0, 1.0)) * rng.uniform(*BRIGHTNESS_SHIFT)
    hue = rng.normal(0.0, 1.0, 3)
    hue -= hue.mean()  # zero-mean offset: changes the hue, not the brightness
    hue *= rng.uniform(*HUE_SHIFT) / max(np.linalg.norm(hue), 1e-9)
    return brightness + hue


def _blob_alpha(size: int, rng: np.random.Generator, small: bool) -> np.ndarray:
    """Coverage (0..1, antialiased edge) of a star-shaped blob: an ellipse with a smoothly wobbling radius."""
    radius = size * rng.uniform(*(DISTRACTOR_RADIUS if small else SHAPE_RADIUS))
    centre = rng.uniform(0.15 * size, 0.85 * size, 2)
    aspect, rotation = rng.uniform(0.6, 1.0), rng.uniform(0, np.pi)
    harmonics = np.arange(2, 6)
    amplitudes = rng.uniform(0.0, 0.3, harmonics.size) / harmonics  # higher harmonics smaller: a smooth outline
    phases = rng.uniform(0, 2 * np.pi, harmonics.size)
    # Only pixels within the outline's largest reach can be covered (the distance below is at least the pixel
    # distance, as aspect <= 1): compute the box around the centre, the same numbers pixel by pixel.
    reach = radius * (1.0 + amplitudes.sum()) + 1.0
    top, left = (max(int(np.floor(c - reach)), 0) for c in (centre[1], centre[0]))
    bottom, right = (min(int(np.ceil(c + reach)) + 1, size) for c in (centre[1], centre[0]))
    alpha = np.zeros((size, size), dtype=np.float64)
    if top >= bottom or left >= right:
        return alpha
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float64)
    dx, dy = xs - centre[0], ys - centre[1]
    along = dx * np.cos(rotation) + dy * np.sin(rotation)
    across = (-dx * np.sin(rotation) + dy * np.cos(rotation)) / aspect
    distance, theta = np.hypot(along, across), np.arctan2(across, along)
    wobble = (amplitudes * np.cos(harmonics * theta[..., None] + phases)).sum(axis=-1)
    edge = radius * (1.0 + wobble)
    alpha[top:bottom, left:right] = np.clip(edge - distance + 0.5, 0.0, 1.0)
    return alpha


def _stripes(size: int, rng: np.random.Generator) -> np.ndarray:
    """Faint straight stripes of random period and direction, fading in over a random half of the image."""
    period, angle = rng.uniform(5, 14), rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    wave = np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    fade = np.clip(_smooth_noise(size, 2, 1, rng)[..., 0] + 0.5, 0, 1)
    return (wave * fade * rng.uniform(0.02, 0.05))[..., None]


def _smooth_noise(size: int, cells: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Value noise: Gaussian values on a (cells+1)^2 lattice, smoothstep-interpolated to size x size x channels."""
    lattice = rng.normal(0.0, 1.0, (cells + 1, cells + 1, channels))
    position = np.linspace(0.0, cells, size)
    left = np.minimum(position.astype(int), cells - 1)
    fraction = position - left
    fraction = fraction * fraction * (3 - 2 * fraction)  # smoothstep: no creases at lattice lines
    weights = np.zeros((size, cells + 1))
    weights[np.arange(size), left] = 1 - fraction
    weights[np.arange(size), left + 1] = fraction
    rows = np.tensordot(weights, lattice, axes=(1, 0))  # size x (cells+1) x channels
    return np.tensordot(rows, weights, axes=(1, 1)).transpose(0, 2, 1)


def _grey(values: np.ndarray) -> np.ndarray:
    """A one-channel field applied equally to R, G and B."""
    return np.repeat(values, 3, axis=-1) if values.shape[-1] == 1 else values


def _blend(under: np.ndarray, over: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return under + (over - under) * alpha[..., None]


_KIND_OUTLINES = {1: lambda size, rng: _blob_alpha(size, rng, small=False), 2: _rectangle_alpha, 3: _triangle_alpha}
