"""Scaling of `seglab train --nproc N` (torchrun, DistributedDataParallel) against one process.

    python -m bench.ddp_scaling --data ../shared/data/oxford-pet-mini --procs 1 2

Each row is a real `seglab train` run (default settings otherwise: the machine's precision and memory
format, decoded-image cache) of --epochs epochs; images/s is the training throughput of the last
epoch from its last progress event (data loading included, validation excluded), summed over processes.
On a CPU the processes share the same cores (torchrun gives each one thread), so this measures the
cost of the gradient all-reduce and of splitting the cores; on GPUs each process drives its own GPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.end_to_end import train
from core.data import list_samples
from core.training.distributed import Distributed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--models", nargs="+", default=["resnet34_unet", "unet"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    train_count = len(list_samples(args.data, "train"))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models:
            for procs in args.procs:
                per_process = Distributed(world_size=procs).per_process_batch(args.batch_size)
                # each process drops its last partial batch: steps = (train / procs) // per-process batch
                images = procs * per_process * ((train_count + procs - 1) // procs // per_process)
                result = train(args.data, model, args.epochs, args.size, Path(folder), f"{model}-{procs}p",
                               ["--nproc", str(procs), "--batch-size", str(args.batch_size), "--device", args.device])
                seconds = result["train_s"][args.epochs]
                rows.append({"model": model, "processes": procs, "images_per_s": round(images / seconds, 2),
                             "epoch_s": round(seconds, 2), "wall_s": result["wall_s"],
                             "val_dice": [round(d, 3) for d in result["val_dice"]], "runtime": result["runtime"]})
                print(json.dumps(rows[-1]), flush=True)
    for model in args.models:
        base = next(r for r in rows if r["model"] == model and r["processes"] == args.procs[0])
        for row in (r for r in rows if r["model"] == model):
            print(f"{model:14} {row['processes']} processes: {row['images_per_s']:7.2f} images/s "
                  f"({row['images_per_s'] / base['images_per_s']:.2f}x)")


if __name__ == "__main__":
    main()
