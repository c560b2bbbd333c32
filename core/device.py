"""Where and how tensors run: device (cuda, mps, cpu), autocast precision and memory format.

`auto` choices follow measurements (bench/README.md): bf16 autocast where the hardware has fast
bf16 (CUDA with bf16; CPUs with AMX or AVX512-BF16), fp16 + GradScaler on older CUDA, fp32
elsewhere; channels_last on CPU and CUDA, where it was faster for both models.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.config import MEMORY_FORMAT_CHOICES, PRECISION_CHOICES
from core.errors import ConfigError
from core.host_memory import reuse_freed_memory

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then CPU; an explicit device that is absent is an error."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise ConfigError("device: cuda was asked for but torch sees no CUDA GPU")
    if name == "mps" and not mps:
        raise ConfigError("device: mps was asked for but this torch build or machine has no MPS")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device: {name!r} is not one of auto, cpu, cuda, mps")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """Whether the CPU computes bf16 matrix products natively (AMX tiles or AVX512-BF16)."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if all(probe is not None for probe in probes):  # torch's own view of what oneDNN can use
        return any(probe() for probe in probes)
    with contextlib.suppress(OSError):  # older torch: read the flags the kernel reports
        flags = Path("/proc/cpuinfo").read_text().split()
        return "amx_bf16" in flags or "avx512_bf16" in flags
    return False


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it ("AMD EPYC", "Intel(R) Xeon(R) ..."), for records of speed."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def auto_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def auto_workers(device: torch.device) -> int:
    """DataLoader workers: none on small CPUs (decoded images are cached, and worker processes would
    fight the training threads for the cores), a few on bigger machines and for GPUs."""
    cores = os.cpu_count() or 1
    if cores <= 2:
        return 0
    return min(8, cores - 1 if device.type == "cuda" else cores // 2)


@dataclass(frozen=True)
class Runtime:
    """A resolved device / precision / memory-format choice and the helpers that apply it."""

    device: torch.device
    precision: str  # fp32 | bf16 | fp16 (resolved, never auto)
    channels_last: bool

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self):
        """Mixed precision for forward passes; losses and metrics cast back to fp32 themselves."""
        dtype = AUTOCAST_DTYPES.get(self.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling, needed for fp16 only (bf16 has fp32's exponent range)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def prepare_host_memory(self) -> str:
        """On CPU, make glibc malloc keep freed tensor memory for reuse (core/host_memory.py).
        Returns what this process runs with, 'reuse' or 'system', for config.json."""
        return reuse_freed_memory() if self.device.type == "cpu" else "system"

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model.to(self.device, memory_format=self.memory_format)

    def prepare_batch(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True)
        return batch.contiguous(memory_format=self.memory_format) if batch.dim() == 4 else batch

    def describe(self) -> dict[str, object]:
        return {"device": str(self.device), "precision": self.precision, "channels_last": self.channels_last}


def resolve_runtime(device: str = "auto", precision: str = "auto", memory_format: str = "auto") -> Runtime:
    """Turn the config's choices (each may be 'auto') into a Runtime; bad names raise ConfigError."""
    if precision not in PRECISION_CHOICES:
        raise ConfigError(f"precision: {precision!r} is not one of {', '.join(PRECISION_CHOICES)}")
    if memory_format not in MEMORY_FORMAT_CHOICES:
        raise ConfigError(f"memory_format: {memory_format!r} is not one of {', '.join(MEMORY_FORMAT_CHOICES)}")
    torch_device = resolve_device(device)
    if precision == "auto":
        precision = auto_precision(torch_device)
    if memory_format == "auto":
        channels_last = torch_device.type in ("cpu", "cuda")
    else:
        channels_last = memory_format == "channels_last"
    return Runtime(torch_device, precision, channels_last)
