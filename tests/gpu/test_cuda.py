"""What only a CUDA GPU exercises: bf16 and fp16 (GradScaler) autocast steps, channels_last on the GPU, pinned
host memory for the loader, `--compile` (compiled or falling back), and a checkpoint written by a GPU run that
loads and evaluates on the CPU. Skipped without CUDA; `bash bench/gpu_check.sh` runs them (`-m cuda`)."""

from __future__ import annotations

import json
import math

import pytest
import torch

import core.training.setup
from core.config import TrainConfig
from core.device import resolve_runtime
from core.inference.evaluation import eval_path
from core.losses import build_loss
from core.models import build_model
from core.run_data import split_dataset
from core.runs.events import EpochEvent, StatusEvent, read_events
from core.training.checkpoints import load_checkpoint
from core.training.engine import train
from core.training.loops import build_optimizer, make_loader, optimizer_step
from tests.core.helpers import new_run

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none)")]


@pytest.fixture
def cuda_config(tiny_config):
    """tiny_config on the GPU; no loader workers (24 images need none, and a GPU machine would start 8)."""
    return tiny_config.replace(device="cuda", workers=0)


def train_steps(runtime, steps: int = 3, size: int = 64) -> tuple[list[float], torch.Tensor, torch.amp.GradScaler,
                                                                  float]:
    """A few optimizer steps of a width-8 UNet as seglab's engine trains: autocast forward, fp32 loss, the
    runtime's GradScaler (core.training.loops.optimizer_step). Returns the losses, the trained model's logits
    under the runtime's autocast, the scaler and how far the weights moved."""
    torch.manual_seed(0)
    model = runtime.prepare_model(build_model("unet", width=8).train())
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = build_optimizer(model, TrainConfig(lr=1e-3), runtime)
    scaler = runtime.grad_scaler()
    loss_fn = build_loss("bce")
    images = runtime.prepare_batch(torch.randn(4, 3, size, size))
    masks = runtime.prepare_batch((torch.rand(4, 1, size, size) > 0.5).float())
    losses = []
    for _ in range(steps):
        losses.append(optimizer_step(model, images, masks, loss_fn, optimizer, scaler, runtime))
    with torch.no_grad(), runtime.autocast():
        logits = model(images)
    moved = max((p.detach() - b).abs().max().item() for p, b in zip(model.parameters(), before, strict=True))
    return losses, logits, scaler, moved


def test_a_bf16_autocast_step_computes_in_bf16_and_trains():
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    runtime = resolve_runtime("cuda", "bf16", "contiguous")
    losses, logits, scaler, moved = train_steps(runtime)
    assert logits.device.type == "cuda" and logits.dtype == torch.bfloat16  # autocast took effect
    assert all(math.isfinite(loss) for loss in losses)
    assert not scaler.is_enabled()  # bf16 needs no loss scaling
    assert moved > 0


def test_an_fp16_step_scales_the_loss_with_a_grad_scaler_and_trains():
    runtime = resolve_runtime("cuda", "fp16", "contiguous")
    losses, logits, scaler, moved = train_steps(runtime, steps=8)  # the first may overflow: skipped, scale halved
    assert logits.dtype == torch.float16
    assert scaler.is_enabled()
    assert all(math.isfinite(loss) for loss in losses)
    assert math.isfinite(scaler.get_scale()) and scaler.get_scale() > 0
    assert moved > 0  # at least one step was not skipped as overflowing


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_run_trains_in_mixed_precision_and_records_it(cuda_config, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    config = cuda_config.replace(precision=precision, epochs=1)
    run = new_run(config)
    summary = train(config, run)
    assert summary.state == "finished"
    (epoch,) = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    assert math.isfinite(epoch.train_loss) and math.isfinite(epoch.val_loss) and 0 <= epoch.val_dice <= 1
    runtime = run.read_status().runtime
    assert runtime["device"].startswith("cuda") and runtime["precision"] == precision
    scaler = load_checkpoint(run.checkpoint_path("last"))["scaler"]
    if precision == "fp16":
        assert scaler["scale"] > 0  # the GradScaler's state is checkpointed for a resume
    else:
        assert scaler is None  # disabled: nothing to save


def test_channels_last_puts_weights_and_batches_on_the_gpu_in_nhwc():
    runtime = resolve_runtime("cuda", "fp32", "channels_last")
    model = runtime.prepare_model(build_model("resnet18_unet", width=8))
    kernels = [p for p in model.parameters() if p.dim() == 4]
    assert kernels and all(p.device.type == "cuda" for p in model.parameters())
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    assert not all(p.is_contiguous() for p in kernels)  # really NHWC, not 1x1 kernels that are both
    batch = runtime.prepare_batch(torch.randn(2, 3, 64, 64))
    assert batch.device.type == "cuda"
    assert batch.is_contiguous(memory_format=torch.channels_last) and not batch.is_contiguous()
    with torch.no_grad():
        out = model(batch)
    assert out.shape == (2, 1, 64, 64) and out.device.type == "cuda" and torch.isfinite(out).all()


def test_the_loader_pins_host_memory_for_a_gpu_run(cuda_config):
    runtime = resolve_runtime("cuda", cuda_config.precision, cuda_config.memory_format)
    loader = make_loader(split_dataset(cuda_config, "train"), cuda_config, runtime, shuffle=True)
    assert loader.pin_memory
    loader.sampler.set_epoch(1)
    images, masks = next(iter(loader))
    assert images.is_pinned() and masks.is_pinned()  # so .to(cuda, non_blocking=True) overlaps the copy
    cpu_loader = make_loader(split_dataset(cuda_config, "train"), cuda_config, resolve_runtime("cpu"), shuffle=True)
    assert not cpu_loader.pin_memory


def test_compile_trains_compiled_or_falls_back_with_a_message(cuda_config, monkeypatch):
    compiled = []
    original = core.training.setup.maybe_compile

    def recording(model, config, runtime, emit):
        result = original(model, config, runtime, emit)
        compiled.append((model, result))
        return result

    monkeypatch.setattr(core.training.setup, "maybe_compile", recording)
    config = cuda_config.replace(compile=True, epochs=1)
    run = new_run(config)
    summary = train(config, run)
    assert summary.state == "finished"
    (epoch,) = [e for e in read_events(run.events_path) if isinstance(e, EpochEvent)]
    assert math.isfinite(epoch.train_loss)
    failed = [e.message for e in read_events(run.events_path)
              if isinstance(e, StatusEvent) and "torch.compile failed" in e.message]
    ((model, result),) = compiled
    if failed:  # the documented fallback: eager training, said once in the log
        assert result is model and len(failed) == 1 and failed[0].endswith("training without it")
    else:
        assert isinstance(result, torch._dynamo.eval_frame.OptimizedModule) and result is not model


def test_a_checkpoint_from_a_gpu_run_loads_and_evaluates_on_the_cpu(cuda_config, capsys):
    from tui.cli import main  # the CLI (textual and typer) only here: the other tests need core alone

    config = cuda_config.replace(epochs=3, lr=5e-3)  # learns enough for a Dice worth comparing
    run = new_run(config)
    summary = train(config, run)
    assert summary.state == "finished"
    payload = load_checkpoint(run.checkpoint_path("best"), map_location="cpu")
    weights = payload["model"]
    assert weights and all(tensor.device.type == "cpu" for tensor in weights.values())
    model = build_model("unet", width=8)
    model.load_state_dict(weights)  # the keys and shapes of a plain CPU model: no DDP or compile prefix
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 32, 32))).all()

    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(run.path), "--split", "val", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    assert "Dice" in out and "written:" in out
    result = json.loads(eval_path(run, "val").read_text())
    assert result["images"] == run.read_status().val_images
    # best.pt's val Dice, measured on the GPU during training, again on the CPU (autocast rounding aside)
    assert result["dice"] == pytest.approx(payload["best_dice"], abs=0.05)
