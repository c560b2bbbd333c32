"""Device, precision and memory-format choices: what 'auto' resolves to, and that each choice computes
the same thing within its precision."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import core.device
from core.device import resolve_runtime
from core.errors import ConfigError
from core.models import build_model


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected"),
    [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16")],
)
def test_auto_precision_on_cpu_is_bf16_autocast_exactly_when_torch_reports_amx_or_avx512_bf16(
    monkeypatch, amx, avx512_bf16, expected
):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    runtime = resolve_runtime("cpu", "auto", "auto")
    assert runtime.precision == expected
    assert runtime.channels_last is True
    with runtime.autocast():  # and the choice takes effect: matrix products run in bf16 or stay fp32
        product = torch.ones(2, 2) @ torch.ones(2, 2)
    assert product.dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)


def test_fast_bf16_is_read_from_cpu_flags_when_torch_cannot_say(monkeypatch, tmp_path):
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse avx512f amx_bf16 amx_tile\n")
    real_path = core.device.Path
    monkeypatch.setattr(core.device, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    assert core.device.cpu_has_fast_bf16() is True
    cpuinfo.write_text("flags\t\t: fpu sse avx2\n")
    assert core.device.cpu_has_fast_bf16() is False


def test_forced_fp32_runs_without_autocast():
    runtime = resolve_runtime("cpu", "fp32", "contiguous")
    model = runtime.prepare_model(build_model("unet", width=8).eval())
    with torch.no_grad(), runtime.autocast():
        out = model(runtime.prepare_batch(torch.randn(1, 3, 32, 32)))
    assert out.dtype == torch.float32
    assert runtime.grad_scaler().is_enabled() is False


def test_bf16_autocast_gives_bf16_activations_but_fp16_needs_a_scaler():
    bf16 = resolve_runtime("cpu", "bf16", "contiguous")
    model = build_model("unet", width=8).eval()
    with torch.no_grad(), bf16.autocast():
        assert model(torch.randn(1, 3, 32, 32)).dtype == torch.bfloat16
    assert bf16.grad_scaler().is_enabled() is False
    assert resolve_runtime("cpu", "fp16", "contiguous").grad_scaler().is_enabled() is True


@pytest.mark.parametrize("name", ["unet", "resnet34_unet"])
def test_channels_last_gives_the_same_outputs_as_nchw(name):
    torch.manual_seed(0)
    model = build_model(name, width=8).eval()
    x = torch.randn(2, 3, 48, 40)
    with torch.no_grad():
        nchw = model(x)
        cl_runtime = resolve_runtime("cpu", "fp32", "channels_last")
        channels_last = cl_runtime.prepare_model(model)(cl_runtime.prepare_batch(x))
    assert cl_runtime.prepare_batch(x).is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(nchw, channels_last, atol=1e-4, rtol=1e-4)


def test_bad_precision_and_memory_format_names_are_refused_naming_the_choices():
    with pytest.raises(ConfigError, match="precision: 'fp8' is not one of auto, fp32, bf16, fp16"):
        resolve_runtime("cpu", "fp8", "auto")
    with pytest.raises(ConfigError, match="memory_format: 'nhwc' is not one of auto, channels_last, contiguous"):
        resolve_runtime("cpu", "auto", "nhwc")


def test_a_run_records_what_auto_resolved_to(tiny_config):
    from core.runs.folders import create_run, runs_root
    from core.training.engine import train

    run = create_run(tiny_config, runs_root())
    train(tiny_config, run)
    runtime = json.loads(run.config_path.read_text())["runtime"]
    expected = resolve_runtime("cpu", "auto", "auto")
    malloc = "reuse" if sys.platform.startswith("linux") else "system"
    assert runtime == {"device": "cpu", "precision": expected.precision, "channels_last": True, "malloc": malloc,
                       "workers": 0, "cache": "memory", "processes": 1, "batch_per_process": tiny_config.batch_size}
    assert run.read_status().runtime == runtime
    assert run.load_config() == tiny_config  # the record does not leak into the config
