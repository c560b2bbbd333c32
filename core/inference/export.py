"""Taking a model out: a run's checkpoint as ONNX (torch's dynamo exporter, the TorchScript-based one as fallback)
or TorchScript, with its preprocessing contract beside it (FILE.json) and a parity check against PyTorch on real
images of the run's data. ONNX needs the `seglab[export]` extra (onnx, onnxruntime, onnxscript)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.atomic_files import atomic_write_text
from core.errors import ConfigError
from core.image_statistics import IMAGENET_MEAN, IMAGENET_STD
from core.inference.predict_resume import checkpoint_file_key, checkpoint_identity
from core.runs.folders import Run
from core.training.preflight import ensure_writable_folder

FORMATS = ("onnx", "torchscript")
EXPORT_EXTRA = "onnx export needs the export extra: pip install 'seglab[export]'"
# Parity thresholds (fp32): the issue's, and what a user can rely on.
MAX_PROBABILITY_DIFFERENCE = 1e-3
MIN_MASK_AGREEMENT = 0.999
PARITY_IMAGES = 8


@dataclass(frozen=True)
class Parity:
    images: int
    max_probability_difference: float
    mask_agreement: float  # share of pixels whose thresholded (binary) or argmax (multiclass) class agrees

    @property
    def ok(self) -> bool:
        return (self.max_probability_difference <= MAX_PROBABILITY_DIFFERENCE
                and self.mask_agreement >= MIN_MASK_AGREEMENT)


@dataclass(frozen=True)
class Export:
    path: Path
    contract: Path
    exporter: str  # "dynamo", "torchscript-onnx" (torch.onnx's TorchScript-based exporter) or "torch.jit.trace"
    parity: Parity


def require_onnx() -> None:
    """One line naming the extra when onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError(EXPORT_EXTRA) from None


def fmt_suffix(fmt: str) -> str:
    return "onnx" if fmt == "onnx" else "pt"


def export_run(run: Run, checkpoint: str = "best", fmt: str = "onnx", size: int | None = None,
               dynamic: bool = False, out: Path | None = None) -> Export:
    """Export the run's checkpoint, write FILE.json beside it and check parity on the run's images."""
    from core.training.checkpoints import model_from_checkpoint

    if fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if dynamic and size is not None:
        raise ConfigError("give --size or --dynamic, not both")
    if dynamic and fmt == "torchscript":
        raise ConfigError("--dynamic is for ONNX; a traced TorchScript model keeps the size it was traced at")
    if fmt == "onnx":
        require_onnx()
    weights = run.checkpoint_path(checkpoint)
    if not weights.is_file():
        raise ConfigError(f"{run.name} has no checkpoints/{checkpoint}.pt")
    if out is not None:  # before the export's seconds of work
        if out.is_dir():
            raise ConfigError(f"--out {out}: is a folder; give the file to write in it, e.g. "
                              f"{out / f'{run.name}.{fmt_suffix(fmt)}'}")
        if out.exists() and not _is_an_export(out):
            raise ConfigError(f"--out {out}: already exists and is not an export (no {out.name}.json beside it); "
                              "give a new file")
        ensure_writable_folder(out.parent)
    model, config, payload = model_from_checkpoint(weights)
    model = model.float().eval()
    size = size or config.image_size
    suffix = fmt_suffix(fmt)
    out = out or run.path / "export" / f"{checkpoint}-{'dynamic' if dynamic else size}.{suffix}"
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, size, size)
    exporter = _export_onnx(model, example, out, dynamic) if fmt == "onnx" else _export_torchscript(model, example,
                                                                                                     out)
    contract = out.with_name(out.name + ".json")
    described = {**contract_of(config, payload, fmt, size, dynamic, exporter), "source": checkpoint_identity(weights)}
    atomic_write_text(contract, json.dumps(described, indent=2) + "\n")
    parity = check_parity(model, out, fmt, config, size, dynamic)
    return Export(out, contract, exporter, parity)


def contract_of(config, payload: dict[str, Any], fmt: str, size: int, dynamic: bool, exporter: str
                ) -> dict[str, Any]:
    """What a program needs to feed the exported model and read its output."""
    from core.training.checkpoints import checkpoint_class_names

    return {
        "format": fmt, "exporter": exporter, "model": config.model, "width": config.width, "epoch": payload["epoch"],
        "input": {"name": "images", "shape": ["batch", 3, "height" if dynamic else size,
                                              "width" if dynamic else size],
                  "dtype": "float32", "layout": "NCHW, RGB",
                  "preprocessing": "resize to the input size (bilinear), scale to 0..1, subtract mean, divide by std",
                  "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "output": {"name": "logits", "shape": ["batch", config.out_channels, "height", "width"],
                   "meaning": "logits: sigmoid > 0.5 is foreground" if config.task == "binary"
                   else "logits per class: argmax is the class id"},
        "task": config.task, "class_names": list(checkpoint_class_names(payload, config)),
    }


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, out: Path, dynamic: bool) -> str:
    """torch.onnx's dynamo exporter, else its TorchScript-based one; returns which was used."""
    try:
        from torch.export import Dim

        # the batch is always free; height and width too with --dynamic
        shapes = ({0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC} if dynamic else {0: Dim.DYNAMIC},)
        program = torch.onnx.export(model, (example,), dynamo=True, input_names=["images"], output_names=["logits"],
                                    dynamic_shapes=shapes, verbose=False)
        program.save(str(out))
        return "dynamo"
    except Exception:  # noqa: BLE001 - any failure of the new exporter: the proven one
        free = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
        torch.onnx.export(model, (example,), str(out), dynamo=False, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": free, "logits": free}, opset_version=17)
        return "torchscript-onnx"


def _export_torchscript(model: torch.nn.Module, example: torch.Tensor, out: Path) -> str:
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        # the trace fixes the input size, as the contract says; the tracer's warnings say the same, many times
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(out))
    return "torch.jit.trace"


class OnnxModel:
    """An exported ONNX model behind PyTorch's calling convention (tensor in, logits tensor out), on ONNX
    Runtime's CPU provider: what `predict --engine onnx` runs."""

    def __init__(self, path: Path):
        require_onnx()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - ONNX Runtime raises its own types for unreadable models
            first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
            raise ConfigError(f"{path}: not a usable ONNX model ({first}); export it again with seglab export "
                              "--dynamic") from None
        self.input = self.session.get_inputs()[0].name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().float().cpu().numpy())
        return torch.from_numpy(self.session.run(None, {self.input: array})[0])

    def eval(self) -> OnnxModel:
        return self


def load_exported(path: Path, fmt: str):
    """The exported file as a callable taking and returning tensors."""
    if fmt == "onnx":
        return OnnxModel(path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path)).eval()


def onnx_model_for(run: Run, checkpoint: str = "best") -> OnnxModel:
    """The run's checkpoint on ONNX Runtime: its dynamic export in the run's export/ folder, made (and
    parity-checked) unless the export there was made from this very checkpoint file as it is now (its contract
    names the checkpoint's path, size and modification time); a failed parity check is an error, not a silent
    difference."""
    require_onnx()
    weights = run.checkpoint_path(checkpoint)
    path = run.path / "export" / f"{_export_stem(checkpoint, weights)}-dynamic.onnx"
    if not path.is_file() or not weights.is_file() or _source_of(path) != checkpoint_identity(weights):
        contract = path.with_name(path.name + ".json")
        for stale in (path, contract):  # this folder's own export: made again (a kill mid-write left no contract)
            stale.unlink(missing_ok=True)
        done = export_run(run, checkpoint, "onnx", dynamic=True, out=path)
        if not done.parity.ok:
            for failed in (path, contract):  # not to be taken as a good export next time
                failed.unlink(missing_ok=True)
            raise ConfigError(f"{path}: the ONNX export does not match PyTorch (max probability difference "
                              f"{done.parity.max_probability_difference:.1e}); predict with --engine torch")
    return OnnxModel(path)


def _export_stem(checkpoint: str, weights: Path) -> str:
    """'best' or 'last'; a checkpoint file given by path gets a name of its own from its whole path, so two files
    both named model.pt never share an export (nor does a path with '..' lead out of export/)."""
    if checkpoint in ("best", "last"):
        return checkpoint
    return f"file-{checkpoint_file_key(weights)}"


def _is_an_export(path: Path) -> bool:
    """Whether `path` is a model file an export wrote (its contract beside it): the only file --out replaces, so a
    run's checkpoint or a user's file is never overwritten."""
    try:
        contract = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(contract, dict) and contract.get("format") in FORMATS and "exporter" in contract


def _source_of(path: Path) -> dict[str, Any] | None:
    """The checkpoint an export was made from, as its contract records it (None: no contract, or an older one)."""
    try:
        source = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):
        return None
    return source if isinstance(source, dict) else None


@torch.inference_mode()
def check_parity(model: torch.nn.Module, path: Path, fmt: str, config, size: int, dynamic: bool) -> Parity:
    """PyTorch (fp32, eager) against the exported file on up to PARITY_IMAGES images of the run's data (test split,
    else val), at the export size, and for a dynamic export also at an odd size that needs the model's padding."""
    from core.run_data import split_dataset

    exported = load_exported(path, fmt)
    dataset = split_dataset(config.replace(image_size=size), "test")
    if len(dataset) == 0:
        dataset = split_dataset(config.replace(image_size=size), "val")
    images = torch.stack([dataset[i][0] for i in range(min(PARITY_IMAGES, len(dataset)))])
    batches = [images]
    if dynamic:  # sizes not divisible by 16/32 must work exactly as in PyTorch
        batches.append(torch.nn.functional.interpolate(images, size=(size - 3, size + 5), mode="bilinear"))
    worst, agree, pixels = 0.0, 0, 0
    for batch in batches:
        if fmt == "onnx" or dynamic:
            logits = [(model(batch), exported(batch))]
        else:  # a traced model takes the batch size it was traced with
            logits = [(model(image[None]), exported(image[None])) for image in batch]
        for reference, candidate in logits:
            if config.task == "binary":
                p, q = torch.sigmoid(reference), torch.sigmoid(candidate)
                a, b = reference > 0, candidate > 0
            else:
                p, q = torch.softmax(reference, 1), torch.softmax(candidate, 1)
                a, b = reference.argmax(1), candidate.argmax(1)
            worst = max(worst, float((p - q).abs().max()))
            agree += int((a == b).sum())
            pixels += a.numel()
    return Parity(len(images), worst, agree / max(pixels, 1))


def parity_summary(parity: Parity) -> dict[str, Any]:
    return {**asdict(parity), "ok": parity.ok, "max_allowed_difference": MAX_PROBABILITY_DIFFERENCE,
            "min_agreement": MIN_MASK_AGREEMENT}
