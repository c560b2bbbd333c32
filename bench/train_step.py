"""Train-step throughput of seglab's models, next to the reference yardstick, in one process.

    python -m bench.train_step --model resnet34_unet --variants fp32,cl,bf16,bf16cl \
        --reference ../shared/reference/train_step_reference.py --reps 5
    python -m bench.train_step --model unet --variants auto --compile        # on a GPU

One step = forward + BCEWithLogits + backward + AdamW step on a fixed random batch, timed the
same way as the reference (median of --reps after --warmup, round-robin over every variant so
drift on the machine hits all alike). Variants: fp32 (NCHW), cl (channels_last), bf16 (autocast),
bf16cl (both), auto (what seglab picks on this machine). The process uses seglab's malloc setting
(core/host_memory.py) like `seglab train` does, for every impl alike; SEGLAB_MALLOC=system leaves
glibc's defaults. Prints one JSON line per (impl, variant)
and a summary with seglab's best over the reference's best. Peak RSS is per process: for a
memory comparison run one variant and one impl per process (--no-seglab / --reference).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core.config import TrainConfig
from core.device import Runtime, resolve_runtime
from core.losses import build_loss
from core.models import MODEL_NAMES, build_model
from core.training.estimate import random_training_step
from core.training.loops import build_optimizer

VARIANTS = {"fp32": ("fp32", "contiguous"), "cl": ("fp32", "channels_last"), "bf16": ("bf16", "contiguous"),
            "bf16cl": ("bf16", "channels_last"), "auto": ("auto", "auto")}


def training_step(model: torch.nn.Module, runtime: Runtime, batch: int, size: int) -> Callable[[], float]:
    """One optimizer step of `model` exactly as seglab's engine trains: autocast, fp32 loss, fused AdamW (the step
    the duration estimate's probe times, core/training/estimate.py)."""
    optimizer = build_optimizer(model, TrainConfig(lr=5e-4), runtime)
    return random_training_step(model, runtime, build_loss("bce"), optimizer, batch, size)


def seglab_step(model_name: str, runtime: Runtime, batch: int, size: int, compile_model: bool,
                backend: str = "inductor") -> Callable[[], None]:
    torch.manual_seed(0)
    model = runtime.prepare_model(build_model(model_name).train())
    return training_step(torch.compile(model, backend=backend) if compile_model else model, runtime, batch, size)


def smp_step(runtime: Runtime, batch: int, size: int) -> Callable[[], None] | None:
    """The peer, segmentation_models_pytorch's Unet(resnet34), trained exactly like seglab's models;
    None (with a message) where smp is not installed."""
    try:
        import segmentation_models_pytorch as smp
    except ImportError:
        print(json.dumps({"impl": "smp", "skipped": "segmentation_models_pytorch is not installed "
                          "(pip install segmentation-models-pytorch 'huggingface_hub<1.0')"}), flush=True)
        return None
    torch.manual_seed(0)
    model = runtime.prepare_model(smp.Unet("resnet34", encoder_weights=None, classes=1).train())
    return training_step(model, runtime, batch, size)


def load_reference(path: Path):
    spec = importlib.util.spec_from_file_location("train_step_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODEL_NAMES, default="resnet34_unet")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--variants", default="fp32,cl,bf16,bf16cl")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile seglab's model")
    parser.add_argument("--compile-backend", default="inductor",
                        help="torch.compile's backend (aot_eager: the same tracing without code generation, quick)")
    parser.add_argument("--reference", type=Path, help="train_step_reference.py to time beside seglab")
    parser.add_argument("--no-seglab", action="store_true", help="time only the reference")
    parser.add_argument("--peer", action="store_true", help="also time smp's Unet(resnet34) (needs smp)")
    args = parser.parse_args()

    malloc = resolve_runtime(args.device).prepare_host_memory()
    steps: dict[tuple[str, str], Callable[[], None]] = {}
    runtimes: dict[str, Runtime] = {}
    reference = load_reference(args.reference) if args.reference else None
    for variant in args.variants.split(","):
        precision, memory_format = VARIANTS[variant]
        runtime = runtimes[variant] = resolve_runtime(args.device, precision, memory_format)
        if not args.no_seglab:
            steps[("seglab", variant)] = seglab_step(args.model, runtime, args.batch, args.size, args.compile,
                                                       args.compile_backend)
        if args.peer and (peer := smp_step(runtime, args.batch, args.size)) is not None:
            steps[("smp", variant)] = peer
        if reference is not None and variant != "auto":
            steps[("reference", variant)] = reference.make_step(args.model, variant, args.batch, args.size,
                                                                runtime.device)

    def timed(step: Callable[[], None], device: torch.device) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for step in steps.values():
        for _ in range(args.warmup):
            step()
    times: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
    for _ in range(args.reps):
        for key, step in steps.items():
            times[key].append(timed(step, runtimes[key[1]].device))

    best: dict[str, float] = {}
    for (impl, variant), samples in times.items():
        median = statistics.median(samples)
        runtime = runtimes[variant]
        row = {"impl": impl, "model": args.model, "variant": variant, "precision": runtime.precision,
               "channels_last": runtime.channels_last, "compile": args.compile and impl == "seglab",
               "device": torch.cuda.get_device_name() if runtime.device.type == "cuda" else runtime.device.type,
               "malloc": malloc,
               "size": args.size, "batch": args.batch, "s_step_median": round(median, 4),
               "images_per_s": round(args.batch / median, 2)}
        print(json.dumps(row), flush=True)
        best[impl] = max(best.get(impl, 0.0), row["images_per_s"])
    summary = {"model": args.model, "malloc": malloc, "best_images_per_s": best,
               "process_peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    if "seglab" in best and "reference" in best:
        summary["seglab_over_reference_best"] = round(best["seglab"] / best["reference"], 3)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
