"""CPU inference images/s of seglab's default torch path against ONNX Runtime (CPU provider, fp32), per model,
at 256 px, batch 1 and 16, in one process, with the share of mask pixels on which the two agree.

    python -m bench.onnx_engine --models unet resnet34_unet --reps 3

Models are freshly initialised at width 64 (speed does not depend on the weights); each is exported with
seglab's exporter (core/inference/export.py, dynamic batch). Three engines: torch on seglab's default path (bf16
and channels_last where the CPU has bf16), torch in fp32 (the default on CPUs without bf16), ONNX Runtime fp32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from core.device import resolve_runtime
from core.inference.export import OnnxModel, _export_onnx
from core.models import build_model


def forward(model, runtime, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode(), runtime.autocast():
        return model(runtime.prepare_batch(x)).float()


def images_per_second(step, batch: int, reps: int) -> float:
    step()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["unet", "resnet34_unet"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    default = resolve_runtime("auto", "auto", "auto")
    fp32 = resolve_runtime("cpu", "fp32", "auto")  # what `precision auto` picks on CPUs without bf16
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        model = build_model(name).eval()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}.onnx"
            _export_onnx(model, torch.zeros(1, 3, args.size, args.size), path, dynamic=False)
            onnx = OnnxModel(path)
            for batch in (1, 16):
                x = torch.randn(batch, 3, args.size, args.size)
                speeds = {}
                for label, runtime in (("torch_default", default), ("torch_fp32", fp32)):
                    prepared = runtime.prepare_model(build_model(name).eval())
                    prepared.load_state_dict(model.state_dict())
                    speeds[label] = images_per_second(partial(forward, prepared, runtime, x), batch, args.reps)
                speeds["onnxruntime"] = images_per_second(partial(onnx, x), batch, args.reps)
                agreement = float(((forward(model, fp32, x) > 0) == (onnx(x) > 0)).float().mean())
                row = {"model": name, "batch": batch, "size": args.size, "default": default.describe(),
                       **{f"{k}_images_s": round(v, 2) for k, v in speeds.items()},
                       "fp32_mask_agreement": round(agreement, 5)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    print("\n| model | batch | torch default path | torch fp32 | ONNX Runtime fp32 | masks agree (fp32) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['torch_default_images_s']:.2f} | {r['torch_fp32_images_s']:.2f} | "
              f"{r['onnxruntime_images_s']:.2f} | {r['fp32_mask_agreement']:.2%} |")


if __name__ == "__main__":
    main()
