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


def rasterise(polygons: Sequence[Ring], height: int, width: int) -> np.ndarray:
    """A bool HxW mask: the union of the polygons, each filled by the even-odd rule (so a ring joined to its holes
    by zero-width slits, as `bridged` makes, keeps them open). Polygons of fewer than 3 points fill nothing."""
    mask = np.zeros((height, width), dtype=bool)
    for ring in polygons:
        if len(ring) < 3:
            continue
        rle = coco_mask.frPyObjects([np.asarray(ring, dtype=np.float64).ravel().tolist()], height, width)
        mask |= coco_mask.decode(rle)[:, :, 0].astype(bool)
    return mask


def rle_to_mask(rle: dict, height: int, width: int) -> np.ndarray:
    """A bool HxW mask from COCO RLE, compressed (counts a string) or uncompressed (counts a list)."""
    if isinstance(rle.get("counts"), list):
        rle = coco_mask.frPyObjects(rle, height, width)
    elif isinstance(rle.get("counts"), str):
        rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return coco_mask.decode(rle).astype(bool)


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


def clip_ring(ring: Ring, height: int, width: int) -> tuple[Ring, bool]:
    """The ring with its points moved inside the image (0..width, 0..height), and whether any had to move."""
    clipped = np.stack([np.clip(ring[:, 0], 0, width), np.clip(ring[:, 1], 0, height)], axis=1)
    return clipped, bool((clipped != ring).any())
