"""Labelling-tool formats on real masks: which contour tracer turns a mask back into polygons best, and how fast and
how exactly each format's writer and reader round-trip oxford-pet-mini's trimaps as 3 classes.

    python -m bench.label_formats --images 300            # tracers (those installed) and every format
    python -m bench.label_formats --images 300 --install-sizes

Tracers: contourpy (matplotlib's contouring library, already installed with seglab), OpenCV's findContours and
scikit-image's find_contours when installed (pip install opencv-python-headless scikit-image). Each mask of each
class (pet, border) is traced into polygons, which are rasterised back with pycocotools (COCO's rasteriser, the one
seglab's readers use); the result is compared with the mask: IoU and the share of masks given back exactly.
--install-sizes installs each candidate into a scratch folder with pip and measures it (needs the network).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.data import list_samples
from core.data.export_splits import export_samples
from core.data.exports import read_export
from core.data.images import load_pair
from core.data.labels import OXFORD_CLASSES, Labels
from core.data.polygons import bridged, rasterise, trace
from core.device import cpu_model
from core.inference.writers import LabelledImage, write_labels

MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-pet-mini"
RESULTS = Path(__file__).with_name("label_formats_results.jsonl")
FORMATS = ("coco", "coco-polygons", "voc", "cvat", "labelme", "yolo")
PACKAGES = {"contourpy": ["contourpy"], "opencv": ["opencv-python-headless"],
            "scikit-image": ["scikit-image"]}  # what each tracer installs (with its dependencies)


def contourpy_polygons(mask: np.ndarray) -> list[np.ndarray]:
    return [bridged(rings) for rings in trace(mask)]


def opencv_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """findContours with holes (RETR_CCOMP): outlines through the boundary pixels' centres, holes bridged."""
    import cv2

    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    polygons = []
    for index, contour in enumerate(contours):
        if hierarchy[0][index][3] != -1:
            continue  # a hole: joined to its outer ring below
        rings = [contour[:, 0, :].astype(np.float64) + 0.5]
        child = hierarchy[0][index][2]
        while child != -1:
            rings.append(contours[child][:, 0, :].astype(np.float64) + 0.5)
            child = hierarchy[0][child][0]
        polygons.append(bridged(rings))
    return polygons


def skimage_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """find_contours at level 0.5 (marching squares, no hierarchy): every contour one polygon, filled even-odd."""
    from skimage import measure

    padded = np.pad(mask.astype(np.float64), 1)
    return [contour[:, ::-1] - 0.5 for contour in measure.find_contours(padded, 0.5)]


TRACERS = {"contourpy": contourpy_polygons, "opencv": opencv_polygons, "scikit-image": skimage_polygons}


def rasterise_even_odd(polygons: list[np.ndarray], height: int, width: int) -> np.ndarray:
    result = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        result ^= rasterise([polygon], height, width)
    return result


def masks(count: int) -> list[LabelledImage]:
    labels = Labels("multiclass", OXFORD_CLASSES)
    samples = (list_samples(MINI, "trainval") + list_samples(MINI, "test"))[:count]
    return [LabelledImage(s.name, s.image, load_pair(s, labels)[1]) for s in samples]


def bench_tracers(items: list[LabelledImage]) -> list[dict]:
    rows = []
    for name, polygons_of in TRACERS.items():
        try:
            polygons_of(np.ones((4, 4), dtype=bool))
        except ImportError:
            print(f"{name}: not installed, skipped", flush=True)
            continue
        seconds, ious, exact = 0.0, [], 0
        for item in items:
            for class_id in (1, 2):
                region = item.mask == class_id
                started = time.perf_counter()
                polygons = polygons_of(region)
                seconds += time.perf_counter() - started
                back = rasterise_even_odd(polygons, *region.shape)
                ious.append(float((back & region).sum() / max((back | region).sum(), 1)))
                exact += bool(np.array_equal(back, region))
        row = {"bench": "tracer", "tracer": name, "masks": len(ious),
               "ms_per_mask": round(1000 * seconds / len(ious), 2), "min_iou": round(min(ious), 4),
               "mean_iou": round(statistics.mean(ious), 5), "exact_share": round(exact / len(ious), 4)}
        rows.append(row)
        print(row, flush=True)
    return rows


def bench_formats(items: list[LabelledImage]) -> list[dict]:
    rows = []
    truth = {item.name: item.mask for item in items}
    with tempfile.TemporaryDirectory() as scratch:
        for fmt in FORMATS:
            out = Path(scratch) / fmt
            started = time.perf_counter()
            write_labels(fmt, items, OXFORD_CLASSES, out)
            written = time.perf_counter() - started
            started = time.perf_counter()
            export = read_export(out)
            labels = Labels("multiclass", export.class_names, export.ignore_index)
            read = {s.name: load_pair(s, labels)[1] for s in export_samples(export, "all")}
            reading = time.perf_counter() - started
            ious = [float(((read[n] == c) & (m == c)).sum() / max(((read[n] == c) | (m == c)).sum(), 1))
                    for n, m in truth.items() for c in (1, 2)]
            row = {"bench": "format", "format": fmt, "images": len(items),
                   "write_ms_per_image": round(1000 * written / len(items), 1),
                   "read_ms_per_image": round(1000 * reading / len(items), 1), "min_iou": round(min(ious), 4),
                   "exact_share": round(sum(np.array_equal(read[n], m) for n, m in truth.items()) / len(truth), 4)}
            rows.append(row)
            print(row, flush=True)
    return rows


def install_sizes() -> list[dict]:
    rows = []
    for name, packages in PACKAGES.items():
        with tempfile.TemporaryDirectory() as target:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", target, *packages],
                           check=True)
            files = [path for path in Path(target).rglob("*") if path.is_file()]
            size = sum(path.stat().st_size for path in files)
            # numpy comes with every candidate and is a seglab dependency already: what a user adds is the rest
            numpy = sum(path.stat().st_size for path in files
                        if path.relative_to(target).parts[0].split("-")[0] in ("numpy", "numpy.libs"))
        row = {"bench": "install", "tracer": name, "packages": packages, "installed_mb": round(size / 2**20, 1),
               "beyond_numpy_mb": round((size - numpy) / 2**20, 1)}
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--install-sizes", action="store_true")
    args = parser.parse_args()
    items = masks(args.images)
    rows = bench_tracers(items) + bench_formats(items) + (install_sizes() if args.install_sizes else [])
    machine = {"cpu": cpu_model(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    with open(RESULTS, "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({**row, **machine}) + "\n")


if __name__ == "__main__":
    main()
