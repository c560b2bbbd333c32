"""torch.distributed under torchrun: the process group from torchrun's environment, who writes (rank 0
only), the samplers that shard data, and the few collectives training needs (stop flag, metric sums).

A single process is the same code with world_size 1: every collective is then the identity.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from core.config import per_process_batch
from core.device import Runtime
from core.errors import ConfigError, SeglabError

# A peer that died leaves the others blocked in a collective; gloo and NCCL then fail after this long
# at most (a dead peer's closed socket usually fails them at once).
COLLECTIVE_TIMEOUT = timedelta(minutes=5)


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes: rank, world size and its local rank on the node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes the run folder and prints."""
        return self.rank == 0

    def per_process_batch(self, global_batch: int) -> int:
        """The batch each process trains on: the config's batch size is the global one, split evenly."""
        return per_process_batch(global_batch, self.world_size)

    def place(self, runtime: Runtime) -> Runtime:
        """Each process of a CUDA run drives the GPU of its local rank (one GPU per process, never shared)."""
        if runtime.device.type != "cuda" or not self.enabled:
            return runtime
        check_processes_fit_gpus(self.local_rank + 1, torch.cuda.device_count())
        return replace(runtime, device=torch.device("cuda", self.local_rank))

    def _collective_device(self, runtime: Runtime | None) -> torch.device:
        return runtime.device if runtime is not None else torch.device("cpu")

    def any(self, flag: bool, runtime: Runtime | None = None) -> bool:
        """True on every process when it is true on any (a stop asked of one rank stops all)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1 if flag else 0], device=self._collective_device(runtime))
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def sum(self, values: list[float], runtime: Runtime | None = None) -> list[float]:
        """Elementwise sums over all processes, in float64."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device(runtime))
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def gather(self, value: Any) -> list[Any]:
        """Every process's `value` (any picklable object), in rank order, on every process."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` (any picklable object) on every process."""
        if not self.enabled:
            return value
        holder = [value if self.is_main else None]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def wait_for_all(self) -> None:
        """Return when every process has got here."""
        if self.enabled:
            dist.barrier()

    def sync_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to all processes, so every rank
        evaluates exactly the model rank 0 checkpoints."""
        if not self.enabled:
            return
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


NOT_DISTRIBUTED = Distributed()


class PeerFailed(SeglabError):
    """Another training process died or failed, so this one cannot go on."""


def as_peer_failure(error: BaseException) -> PeerFailed | None:
    """A collective that failed because a peer process is gone, as one readable error; None otherwise."""
    dist_error = getattr(dist, "DistError", ())
    text = str(error)
    if isinstance(error, dist_error) or (isinstance(error, RuntimeError) and any(
            sign in text for sign in ("Connection closed by peer", "Connection reset by peer", "NCCL", "gloo"))):
        detail = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        return PeerFailed(f"another training process failed or was killed ({detail[:160]})")
    return None


def init_distributed() -> Distributed:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, MASTER_ADDR... in the environment);
    a plain process gets NOT_DISTRIBUTED. CPU tensors go over gloo, CUDA tensors over NCCL."""
    if not launched_by_torchrun():
        return NOT_DISTRIBUTED
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and dist.is_nccl_available():
        if local_rank < torch.cuda.device_count():  # a CPU run may have more processes than GPUs; `place` checks
            torch.cuda.set_device(local_rank)
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
    return Distributed(rank=rank, world_size=world, local_rank=local_rank)


def check_processes_fit_gpus(processes: int, gpus: int) -> None:
    """Refuse more processes per machine than GPUs: each process drives the GPU of its local rank."""
    if processes > gpus:
        raise ConfigError(f"--nproc {processes}: this machine has {gpus} CUDA GPU{'s' * (gpus != 1)} and each training "
                          f"process drives one; use --nproc {gpus} or fewer, or --device cpu")


def check_launch_fits_device(processes: int, device: str) -> None:
    """Before launching `processes` training processes for `device` (auto | cpu | cuda | mps): they fit the GPUs."""
    if processes > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        check_processes_fit_gpus(processes, torch.cuda.device_count())


def close_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class ShardSampler(Sampler[int]):
    """Indices rank, rank + world, ... of an unshuffled set, without the padding DistributedSampler adds:
    evaluation sees every image exactly once across processes (shards may differ in length by one)."""

    def __init__(self, length: int, distributed: Distributed):
        self.indices = range(distributed.rank, length, distributed.world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def wrap_model(model: nn.Module, distributed: Distributed, runtime: Runtime, sync_bn: bool) -> nn.Module:
    """DistributedDataParallel around the model when there are several processes (SyncBatchNorm first
    if asked); the model itself otherwise. Checkpoints always take the unwrapped model's state."""
    if not distributed.enabled:
        return model
    if sync_bn:
        if runtime.device.type != "cuda":
            raise ConfigError("sync_bn: torch's SyncBatchNorm runs on GPUs only; train without --sync-bn on CPU")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
