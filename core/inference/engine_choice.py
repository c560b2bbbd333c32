"""Which engine predicts: torch or ONNX Runtime as asked, or with 'auto' the faster of the two on this machine for
this model, from a few timed batches of each, measured once and cached per machine (CPU, its bf16/AMX flags,
library versions, threads) and per checkpoint in the user cache folder. CUDA and MPS run torch without measuring."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.atomic_files import atomic_write_text
from core.device import Runtime, cpu_model, resolve_runtime
from core.errors import ConfigError
from core.inference.model_lanes import lane_plan, run_in_lanes
from core.inference.predict_resume import checkpoint_identity
from core.run_data import cache_root
from core.runs.folders import Run

CACHE_FILE = "engine_choice.json"
CACHE_ENTRIES = 200  # newest kept: one per checkpoint, batch size and machine state measured
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8")
TIMED_ROUNDS = 3


@dataclass(frozen=True)
class EngineChoice:
    """The engine that runs and why; `rates` (images/s) when it was measured, now or before (`measured`: date)."""

    engine: str
    reason: str
    rates: dict[str, float] = field(default_factory=dict)
    measured: str | None = None
    cached: bool = False

    def summary(self) -> dict[str, Any]:
        return {"engine": self.engine, "reason": self.reason, "images_per_second": self.rates,
                "measured": self.measured, "from_cache": self.cached}


@dataclass
class LoadedEngine:
    model: Any  # a torch module, or an OnnxModel with the same calling convention
    runtime: Runtime
    choice: EngineChoice


def load_engine(engine: str, run: Run, checkpoint: str, model: torch.nn.Module, config, device: str,
                batch_size: int) -> LoadedEngine:
    """The model ready to predict on the engine asked for ('torch', 'onnx') or chosen ('auto')."""
    if engine == "onnx":
        return _onnx(run, checkpoint, EngineChoice("onnx", "asked for"))
    torch_model, runtime = _torch(model, config, device)
    if engine == "torch":
        return LoadedEngine(torch_model, runtime, EngineChoice("torch", "asked for"))
    if runtime.device.type != "cpu":
        return LoadedEngine(torch_model, runtime, EngineChoice("torch", f"auto: {runtime.device.type} runs torch"))
    try:
        from core.inference.export import require_onnx

        require_onnx()
    except ConfigError:
        return LoadedEngine(torch_model, runtime, EngineChoice(
            "torch", "auto: onnxruntime is not installed; pip install 'seglab[export]' lets auto try it"))
    key = cache_key(run.checkpoint_path(checkpoint), config, runtime, batch_size)
    record = read_cache().get(key)
    if record is not None:
        choice = _from_rates(record["rates"], record["measured"], cached=True)
    else:
        try:
            onnx = _onnx(run, checkpoint, EngineChoice("onnx", ""))
        except Exception as error:  # noqa: BLE001 - any failed export or load: torch, saying why
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
            return LoadedEngine(torch_model, runtime, EngineChoice("torch", f"auto: no ONNX model ({first})"))
        rates = measure_rates(torch_model, runtime, onnx.model, config.image_size, batch_size)
        measured = datetime.date.today().isoformat()
        write_cache(key, {"rates": rates, "measured": measured})
        choice = _from_rates(rates, measured, cached=False)
        if choice.engine == "onnx":
            return LoadedEngine(onnx.model, onnx.runtime, choice)
    if choice.engine == "onnx":
        return _onnx(run, checkpoint, choice)
    return LoadedEngine(torch_model, runtime, choice)


def _torch(model: torch.nn.Module, config, device: str) -> tuple[torch.nn.Module, Runtime]:
    runtime = resolve_runtime(device, config.precision, config.memory_format)
    runtime.prepare_host_memory()
    return runtime.prepare_model(model), runtime


def _onnx(run: Run, checkpoint: str, choice: EngineChoice) -> LoadedEngine:
    from core.inference.export import onnx_model_for

    return LoadedEngine(onnx_model_for(run, checkpoint), resolve_runtime("cpu", "fp32", "contiguous"), choice)


def _from_rates(rates: dict[str, float], measured: str, cached: bool) -> EngineChoice:
    """The faster engine (torch on a tie), and by how much, as a reason a user can read."""
    engine = "onnx" if rates["onnx"] > rates["torch"] else "torch"
    other = "torch" if engine == "onnx" else "onnx"
    ratio = rates[engine] / rates[other] if rates[other] > 0 else float("inf")
    reason = f"auto: {ratio:.2f}x {other}'s rate on this machine, measured {measured}"
    return EngineChoice(engine, reason, dict(rates), measured, cached)


def measure_rates(torch_model: torch.nn.Module, runtime: Runtime, onnx_model, size: int, batch_size: int
                  ) -> dict[str, float]:
    """Images/s of each engine on a batch of the run's input size, each run as prediction runs it (torch in its
    model lanes, a batch a lane at once; ONNX Runtime one batch at a time on its own threads): a warm-up each,
    then TIMED_ROUNDS rounds that time each engine in turn, the median per engine (taking turns, a burst of other
    work on the machine slows both engines rather than one)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, 3, size, size, generator=generator)
    plan = lane_plan(torch_model, runtime.device)

    def torch_batch(_lane: int) -> None:
        with torch.inference_mode(), runtime.autocast():
            torch_model(runtime.prepare_batch(x)).float()

    steps = {"torch": lambda: run_in_lanes(plan, torch_batch), "onnx": lambda: onnx_model(x)}
    images = {"torch": batch_size * plan.lanes, "onnx": batch_size}
    for step in steps.values():
        step()
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(TIMED_ROUNDS):
        for name, step in steps.items():
            rates[name].append(time_engine(name, step, images[name]))
    return {name: round(statistics.median(values), 3) for name, values in rates.items()}


def time_engine(name: str, step: Callable[[], Any], images: int) -> float:
    """Images/s of `step`, which predicts `images` images; `name` says which engine (tests fake this function per
    engine)."""
    started = time.perf_counter()
    step()
    return images / (time.perf_counter() - started)


def machine_identity() -> dict[str, Any]:
    """What makes one machine's measurement unlike another's: the CPU, the flags its fast kernels depend on, the
    libraries' versions and torch's thread count."""
    import onnxruntime

    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {"cpu": cpu_model(), "flags": [flag for flag in CPU_FLAGS if flag in flags],
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "threads": torch.get_num_threads()}


def cache_key(weights: Path, config, runtime: Runtime, batch_size: int) -> str:
    """One string for this machine and this model at this batch size."""
    identity = {"machine": machine_identity(), "model": checkpoint_identity(weights),
                "image_size": config.image_size, "batch_size": batch_size, "torch_runtime": runtime.describe(),
                "torch_measured": "in model lanes"}  # measurements from before torch ran in lanes are taken again
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def cache_path() -> Path:
    return cache_root() / CACHE_FILE


def read_cache() -> dict[str, dict[str, Any]]:
    """The measurements kept so far; an unreadable or malformed file counts as none (it is rewritten)."""
    try:
        values = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(values, dict):
        return {}
    return {key: record for key, record in values.items() if _valid(record)}


def write_cache(key: str, record: dict[str, Any]) -> None:
    entries = read_cache()
    entries.pop(key, None)
    entries[key] = record
    kept = dict(list(entries.items())[-CACHE_ENTRIES:])
    with contextlib.suppress(OSError):  # a read-only cache folder: measured again next time, nothing worse
        cache_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache_path(), json.dumps(kept, indent=1) + "\n")


def _valid(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("measured"), str):
        return False
    rates = record.get("rates")
    return isinstance(rates, dict) and all(isinstance(rates.get(name), (int, float)) for name in ("torch", "onnx"))
