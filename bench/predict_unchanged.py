"""Predicted files unchanged by a change of code: the same photos predicted by another checkout (--before, e.g. a
`git worktree` of the previous commit) and by this one, with the same run; results.csv compared byte for byte and
every mask and overlay PNG pixel for pixel (and mode), at alpha 0.5 (the CLI's) and 0.77 (where the blend changes
pixels outside the mask too). Needs the run and photos of `python -m bench.predict_scale --phase make`:

    git worktree add /tmp/before HEAD~1
    python -m bench.predict_unchanged --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parents[1]
PREDICT = ("import sys\nfrom pathlib import Path\nfrom core.inference.predict import predict\n"
           "from core.runs.folders import Run\n"
           "predict(Run(Path(sys.argv[1])), inputs=[sys.argv[2]], output_name=sys.argv[3], alpha=float(sys.argv[4]),"
           " device='cpu', engine='torch')\n")


def predict_with(tree: Path, run: Path, photos: Path, name: str, alpha: float, cache: Path) -> Path:
    shutil.rmtree(run / "predictions" / name, ignore_errors=True)
    subprocess.run([sys.executable, "-c", PREDICT, str(run), str(photos), name, str(alpha)], cwd=tree, check=True,
                   env={**os.environ, "PYTHONPATH": str(tree), "SEGLAB_CACHE_DIR": str(cache)})
    return run / "predictions" / name


def compare(before: Path, now: Path) -> dict:
    differing = []
    pngs = sorted(path.name for path in before.glob("*.png"))
    for name in pngs:
        old, new = Image.open(before / name), Image.open(now / name)
        if old.mode != new.mode or not np.array_equal(np.asarray(old), np.asarray(new)):
            differing.append(name)
    size_before = sum((before / name).stat().st_size for name in pngs)
    size_now = sum((now / name).stat().st_size for name in pngs if (now / name).exists())
    return {"results_csv_identical": (before / "results.csv").read_bytes() == (now / "results.csv").read_bytes(),
            "pngs": len(pngs), "pngs_differing": differing, "png_bytes_now_vs_before": round(size_now / size_before, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--work", type=Path, default=Path("/tmp/seglab-predict-scale"))
    parser.add_argument("--photos", type=int, default=60, help="how many of the 10,000 photos")
    args = parser.parse_args()
    (checkpoint,) = (args.work / "runs").glob("*/checkpoints/best.pt")
    run = checkpoint.parent.parent
    photos = args.work / f"unchanged-{args.photos}"
    photos.mkdir(exist_ok=True)
    for source in sorted((args.work / "photos-10000").iterdir())[:args.photos]:
        if not (photos / source.name).exists():
            (photos / source.name).symlink_to(source)
    rows = []
    for alpha in (0.5, 0.77):
        made = [predict_with(tree, run, photos, f"unchanged-{label}-{alpha}", alpha, args.work / "cache")
                for tree, label in ((args.before.resolve(), "before"), (HERE, "now"))]
        rows.append({"alpha": alpha, **compare(*made)})
        print(json.dumps(rows[-1]), flush=True)
    if not all(row["results_csv_identical"] and not row["pngs_differing"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
