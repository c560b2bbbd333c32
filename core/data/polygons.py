"""Polygons and masks, both ways: rasterise polygons and RLE with pycocotools (the COCO API's own rasteriser), and
trace a mask's regions back into polygons with their holes with contourpy (matplotlib's contouring library).

Coordinates follow COCO: x right, y down, pixel (i, j) covers [i, i+1) x [j, j+1). A traced outline runs along
pixel edges (cutting corners by a fraction of a pixel), so rasterising it gives back the mask: bench/README.md
measures the round trip."""

from __future__ import annotations

import math
from collections.abc import Sequence

import contourpy
import numpy as np
from pycocotools import mask as coco_mask

Ring = np.ndarray  # N x 2 float (x, y) points of a closed outline, the last point not repeated
CIRCLE_POINTS = 64  # a LabelMe circle becomes a polygon of this many corners
REACH = 64  # pixels beyond the image within which a polygon's points are filled as they are


def rasterise(polygons: Sequence[Ring], height: int, width: int) -> np.ndarray:
    """A bool HxW mask: the union of the polygons, each filled by the even-odd rule (so a ring joined to its holes
    by zero-width slits, as `bridged` makes, keeps them open). Polygons of fewer than 3 points fill nothing.

    A polygon reaching outside the image is filled on a canvas widened to hold it (pycocotools clamps and
    truncates coordinates outside the image, which changes the shape inside it), then cropped: the pixels inside
    are those of the whole polygon. Points farther than REACH pixels out are first cut to that distance
    (Sutherland-Hodgman), which moves the edges inside by at most the rasteriser's own tenth of a pixel."""
    mask = np.zeros((height, width), dtype=bool)
    for ring in polygons:
        if len(ring) < 3:
            continue
        ring = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
        if _inside(ring, height, width):
            mask |= _filled(ring, height, width)
            continue
        ring = _cut_to_box(ring, (-REACH, -REACH, width + REACH, height + REACH))
        if len(ring) < 3:
            continue
        low = np.ceil(np.clip(-ring.min(axis=0), 0, REACH)).astype(int)  # columns, rows added left and above
        high = np.ceil(np.clip(ring.max(axis=0) - (width, height), 0, REACH)).astype(int)
        canvas = _filled(ring + low, height + low[1] + high[1], width + low[0] + high[0])
        mask |= canvas[low[1]:low[1] + height, low[0]:low[0] + width]
    return mask


def _filled(ring: Ring, height: int, width: int) -> np.ndarray:
    """pycocotools' fill of one ring that lies within the height x width canvas."""
    rle = coco_mask.frPyObjects([ring.ravel().tolist()], height, width)
    return coco_mask.decode(rle)[:, :, 0].astype(bool)


def rle_to_mask(rle: dict, height: int, width: int) -> np.ndarray:
    """A bool HxW mask from COCO RLE, compressed (counts a string) or uncompressed (counts a list)."""
    if isinstance(rle.get("counts"), list):
        rle = coco_mask.frPyObjects(rle, height, width)
    elif isinstance(rle.get("counts"), str):
        rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return coco_mask.decode(rle).astype(bool)


def rle_problem(rle: dict, height: int, width: int) -> str | None:
    """What is wrong with a COCO RLE for a height x width image, or None. Its runs must be non-negative and add up
    to the image's pixels: pycocotools decodes fewer into memory it never wrote (a different mask each time)."""
    counts = rle.get("counts")
    if isinstance(counts, str):
        runs = _string_runs(counts)
        if runs is None:
            return "its RLE counts string is not one pycocotools writes"
    elif isinstance(counts, list) and all(isinstance(run, int) and not isinstance(run, bool) for run in counts):
        runs = np.asarray(counts, dtype=object)
    else:
        return "its RLE counts are neither a string nor a list of integers"
    if len(runs) and runs.min() < 0:
        return "its RLE has a negative run"
    total = int(runs.sum()) if len(runs) else 0
    if total != height * width:
        return f"its RLE runs cover {total} pixels, not the {height}x{width} = {height * width} of its image"
    return None


def _string_runs(counts: str) -> np.ndarray | None:
    """The runs of pycocotools' compressed counts string (its rleFrString, in numpy), None if it is malformed.
    Each run is 5-bit groups, low first, in characters 48 + group (+ 32 while more follow); the last group's bit 4
    is the sign; from the third run on, a run is stored as its difference from the run two before."""
    codes = np.frombuffer(counts.encode("latin-1", errors="replace"), dtype=np.uint8).astype(np.int64) - 48
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    if codes.min() < 0 or codes.max() > 63 or codes[-1] & 0x20:
        return None
    ends = np.flatnonzero((codes & 0x20) == 0)
    starts = np.concatenate([[0], ends[:-1] + 1])
    position = np.arange(len(codes)) - np.repeat(starts, ends - starts + 1)
    if position.max() > 12:  # more than 60 bits: no run of a real image
        return None
    values = np.add.reduceat((codes & 0x1F) << (5 * position), starts)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * (position[ends][negative] + 1))
    runs = values.copy()
    for parity in (0, 1):  # run m (m > 2) = stored value + run m - 2
        chain = runs[2 + parity::2] if parity == 0 else runs[1::2]
        chain[:] = np.cumsum(chain)
    return runs


def mask_to_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a bool HxW mask, JSON-ready (counts as a string)."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def mask_area(mask_rle: dict) -> int:
    return int(coco_mask.area(mask_rle))


def trace(mask: np.ndarray) -> list[list[Ring]]:
    """The regions of a bool mask as outlines, one list per connected region: its outer ring, then its holes."""
    if not mask.any():
        return []
    padded = np.pad(mask.astype(np.float64), 1)  # so a region touching the border is closed
    generator = contourpy.contour_generator(z=padded, fill_type=contourpy.FillType.OuterOffset, corner_mask=False)
    points, offsets = generator.filled(0.5, 1.5)
    # contourpy's x, y are array indices of pixel centres, +1 for the padding; COCO's pixel centres sit at +0.5
    return [[np.asarray(ring_points[start:stop], dtype=np.float64) - 0.5
             for start, stop in zip(ring_offsets[:-1], ring_offsets[1:], strict=True)]
            for ring_points, ring_offsets in zip(points, offsets, strict=True)]


def bridged(rings: Sequence[Ring]) -> Ring:
    """One ring for an outline with holes, for formats whose polygons cannot have holes (COCO polygons, LabelMe,
    YOLO): each hole is joined to the outer ring by a zero-width slit, there and back, which the even-odd fill
    leaves out, so the holes stay open."""
    outer = np.asarray(rings[0], dtype=np.float64)
    if len(rings) == 1:
        return outer
    parts = [outer, outer[:1]]
    for hole in rings[1:]:
        hole = np.asarray(hole, dtype=np.float64)
        parts += [hole, hole[:1], outer[:1]]
    return np.concatenate(parts)


def circle(centre: Sequence[float], edge: Sequence[float]) -> Ring:
    """A polygon of CIRCLE_POINTS corners for the circle through `edge` around `centre` (LabelMe's circle)."""
    radius = math.dist(centre, edge)
    angles = np.linspace(0, 2 * math.pi, CIRCLE_POINTS, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], axis=1)


def rectangle(corner: Sequence[float], opposite: Sequence[float]) -> Ring:
    (x0, y0), (x1, y1) = corner, opposite
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def checked_ring(ring: Ring | Sequence[float], height: int, width: int) -> tuple[Ring, bool]:
    """The ring as N x 2 floats, and whether any point lies outside the image (0..width, 0..height): rasterise
    fills only its part inside. Raises ValueError for a coordinate that is not a finite number (json and float()
    both read NaN and Infinity, which the rasteriser would try to allocate memory for)."""
    ring = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(ring).all():
        raise ValueError("a coordinate is not a finite number")
    return ring, not _inside(ring, height, width)


def _inside(ring: Ring, height: int, width: int) -> bool:
    """Whether every point lies on the image (0..width, 0..height, edges included)."""
    return bool(((ring >= 0) & (ring <= (width, height))).all())


def _cut_to_box(ring: Ring, box: tuple[float, float, float, float]) -> Ring:
    """The ring's part inside the box (left, top, right, bottom): Sutherland-Hodgman, one box edge at a time. The
    edges it adds run along the box, outside the image."""
    left, top, right, bottom = box
    for axis, bound, keep_below in ((0, left, False), (0, right, True), (1, top, False), (1, bottom, True)):
        if len(ring) == 0:
            break
        kept = ring[:, axis] <= bound if keep_below else ring[:, axis] >= bound
        if kept.all():
            continue
        points: list[np.ndarray] = []
        for index in range(len(ring)):
            point, previous = ring[index], ring[index - 1]
            if kept[index] != kept[index - 1]:
                crossing = previous + (bound - previous[axis]) / (point[axis] - previous[axis]) * (point - previous)
                crossing[axis] = bound
                points.append(crossing)
            if kept[index]:
                points.append(point)
        ring = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return ring
