"""--compile's probe (core/training/setup.maybe_compile): a failure compiling either graph training uses falls back to
eager mode with a message, and the probe batch leaves no trace in the model. torch.compile is replaced here (a real
compile takes minutes on a 2-core CPU); the probe's calls are what is checked."""

from __future__ import annotations

import torch
from torch import nn

from core.device import resolve_runtime
from core.models import build_model
from core.runs.events import StatusEvent, read_events
from core.runs.folders import create_run, runs_root
from core.training.engine import train
from core.training.setup import maybe_compile


class FailsWithGrad(nn.Module):
    """What a compiled model whose backward graph does not build looks like: inference works, training does not."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        if torch.is_grad_enabled():
            raise RuntimeError("InductorError: backward graph\nfailed to build\n" + "g++ output\n" * 1000)
        return self.model(x)


def test_a_backward_graph_that_fails_to_compile_trains_eager_with_a_message(tiny_config, monkeypatch):
    """The probe ran without grad only: such a failure ended the run at its first step, an internal error."""
    monkeypatch.setattr(torch, "compile", FailsWithGrad)
    config = tiny_config.replace(compile=True, epochs=1)
    run = create_run(config, runs_root())
    assert train(config, run).state == "finished"
    messages = [event.message for event in read_events(run.events_path) if isinstance(event, StatusEvent)]
    (failed,) = [message for message in messages if message.startswith("torch.compile failed")]
    assert failed.startswith("torch.compile failed (InductorError: backward graph failed to build g++ output g++ ")
    assert failed.endswith("); training without it") and len(failed) < 250  # one line, not the compiler's log


def test_the_probe_batch_leaves_the_models_statistics_and_gradients_as_they_were(tiny_config, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda model: model)  # the probe runs the model itself
    model = build_model("unet", width=8)
    model.train()
    before = {name: buffer.clone() for name, buffer in model.named_buffers()}
    assert maybe_compile(model, tiny_config.replace(compile=True), resolve_runtime("cpu", "fp32"), print) is model
    after = dict(model.named_buffers())
    assert before.keys() == after.keys() and all(torch.equal(before[name], after[name]) for name in before)
    assert all(parameter.grad is None for parameter in model.parameters()) and model.training


def test_a_failures_message_of_a_compilers_whole_log_is_cut_in_status_json(tiny_config, monkeypatch):
    """A run killed while compiling kept g++'s 200 KB log as its status message."""
    import pytest

    import core.training.setup as setup

    def fails(*_args, **_kwargs):
        raise RuntimeError("InductorError: " + "g++ output line\n" * 20_000)

    monkeypatch.setattr(setup, "maybe_compile", fails)
    run = create_run(tiny_config, runs_root())
    with pytest.raises(RuntimeError):
        train(tiny_config, run)
    message = run.read_status().message
    assert message.startswith("InductorError: g++ output line") and message.endswith(" more characters)")
    assert len(message) < 1100
