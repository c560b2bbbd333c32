"""One all-reduce and one broadcast over the process group seglab's training uses, under torchrun:

    python -m torch.distributed.run --standalone --nproc-per-node=1 -m bench.collective_probe --device cuda

`seglab train` under a 1-process torchrun sets up no process group (a world of one needs no collectives,
core/training/distributed.py), so this is what shows that the backend seglab picks for N processes
(NCCL for CUDA tensors, gloo for CPU ones) starts and computes on this machine. Rank 0 prints one JSON
line; the exit code is non-zero when a result is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist

from core.training.distributed import COLLECTIVE_TIMEOUT


def nccl_version() -> str:
    version = torch.cuda.nccl.version()
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    args = parser.parse_args()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print(json.dumps({"probe": "collective", "ok": False, "error": "torch sees no CUDA GPU"}), flush=True)
            return 1
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "cpu:gloo,cuda:nccl"  # as init_distributed does
    else:
        device, backend = torch.device("cpu"), "gloo"
    started = time.perf_counter()
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
    try:
        value = torch.full((1024,), float(rank + 1), device=device)
        dist.all_reduce(value)
        expected = world * (world + 1) / 2
        holder = [{"from": rank}]
        dist.broadcast_object_list(holder, src=0)
        dist.barrier()
        if device.type == "cuda":
            torch.cuda.synchronize()
        ok = bool(torch.all(value == expected).item()) and holder[0] == {"from": 0}
        if rank == 0:
            print(json.dumps({"probe": "collective", "ok": ok, "backend": str(dist.get_backend()),
                              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                              "world_size": world, "nccl_version": nccl_version() if device.type == "cuda" else None,
                              "seconds": round(time.perf_counter() - started, 3)}), flush=True)
    finally:
        dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
