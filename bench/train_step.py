"""Train-step throughput of seglab's models: forward + loss + backward + AdamW step, images/s.

    python bench/train_step.py --model unet --size 256 --batch 16 --reps 5

Times one full step the same way as ../shared/reference/train_step_reference.py (median of
--reps after --warmup), so the two can be compared in the same session. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch

from core.losses import build_loss
from core.models import MODEL_NAMES, build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODEL_NAMES, default="unet")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(args.model, width=args.width).to(device).train()
    loss_fn = build_loss("bce")
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    y = (torch.rand(args.batch, 1, args.size, args.size, device=device) > 0.5).float()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(json.dumps({
        "model": args.model, "width": args.width, "size": args.size, "batch": args.batch, "device": device.type,
        "precision": "fp32", "threads": torch.get_num_threads(), "s_step_median": round(median, 4),
        "images_per_s": round(args.batch / median, 2),
        "process_peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }))


if __name__ == "__main__":
    main()
