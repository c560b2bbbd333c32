"""Checkpoint files: atomic writes, and every unusable file refused as one CheckpointError naming it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from core import __version__
from core.errors import CheckpointError
from core.models import build_model
from core.training.checkpoints import load_checkpoint, model_from_checkpoint, save_checkpoint_atomically


def payload(config, model=None, epoch: int = 1) -> dict:
    model = model or build_model(config.model, width=config.width)
    return {"model": model.state_dict(), "epoch": epoch, "best_dice": 0.5, "config": config.to_dict()}


def test_saved_checkpoint_loads_back_with_the_same_tensors_and_the_version(tiny_config, tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    saved = payload(tiny_config)
    save_checkpoint_atomically(path, saved)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 1 and loaded["config"] == tiny_config.to_dict()
    assert loaded["seglab_version"] == __version__
    assert loaded["model"].keys() == saved["model"].keys()
    assert all(torch.equal(loaded["model"][key], tensor) for key, tensor in saved["model"].items())
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_a_write_that_fails_midway_keeps_the_previous_checkpoint_and_leaves_no_temp_file(
    tiny_config, tmp_path, monkeypatch
):
    path = tmp_path / "last.pt"
    save_checkpoint_atomically(path, payload(tiny_config, epoch=1))
    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint_atomically(path, payload(tiny_config, epoch=2))
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_truncated_checkpoint_is_refused_naming_the_file(tiny_config, tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint_atomically(path, payload(tiny_config))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("content", [
    pytest.param(b"notes: not a checkpoint\n", id="text"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00" * 100, id="zeros"),
    pytest.param(b"hello world\n", id="text-starting-with-h"),
    pytest.param(b"some text\n", id="text-starting-with-s"),
    pytest.param(b"notes\n", id="text-read-as-a-pickle-opcode"),
    pytest.param(b"{}\n", id="braces"),
])
def test_a_file_that_is_not_a_checkpoint_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "notes.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert "not a" in str(error.value) and "refused" not in str(error.value)  # not taken for a dangerous pickle


def test_a_missing_checkpoint_is_refused_naming_it(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint") as error:
        load_checkpoint(tmp_path / "best.pt")
    assert str(tmp_path / "best.pt") in str(error.value) and "last" not in str(error.value)
    (tmp_path / "last.pt").write_bytes(b"")  # a run stopped before its first validation has last.pt only
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path / "best.pt")
    assert str(error.value).endswith("no such checkpoint file (the run has last.pt: --checkpoint last uses it)")


@pytest.mark.parametrize("saved", [{"model": {}, "epoch": 1}, [1, 2, 3], torch.zeros(3)],
                         ids=["missing-config", "list", "bare-tensor"])
def test_a_torch_file_without_the_checkpoint_keys_is_refused(tmp_path, saved):
    path = tmp_path / "other.pt"
    torch.save(saved, path)
    with pytest.raises(CheckpointError, match="not a seglab checkpoint") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def write_marker(path: str) -> None:
    Path(path).write_text("code ran while loading")


class RunsCodeWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return write_marker, (str(self.marker),)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_checkpoint_crafted_to_run_code_is_refused_without_running_it(tiny_config, tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    evil = {**payload(tiny_config), "extra": RunsCodeWhenUnpickled(marker)}
    if writer == "torch.save":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    assert not marker.exists()
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert not marker.exists()
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert "refused: it holds objects other than tensors" in str(error.value)
    with pytest.raises(CheckpointError):
        model_from_checkpoint(path)
    assert not marker.exists()


def test_model_from_checkpoint_rebuilds_the_saved_model_with_its_weights(tiny_config, tmp_path):
    trained = build_model("unet", width=8)
    torch.nn.init.normal_(next(trained.parameters()))
    path = tmp_path / "best.pt"
    save_checkpoint_atomically(path, payload(tiny_config, model=trained))
    model, config, loaded = model_from_checkpoint(path)
    assert config == tiny_config and loaded["epoch"] == 1
    assert not model.training
    x = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(model(x), trained.eval()(x))


def test_weights_of_another_width_are_refused_naming_the_width(tiny_config, tmp_path):
    path = tmp_path / "best.pt"
    wider = build_model("unet", width=16)
    save_checkpoint_atomically(path, payload(tiny_config, model=wider))  # config says width 8
    with pytest.raises(CheckpointError, match="width 8") as error:
        model_from_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_checkpoint_with_a_broken_config_is_refused(tiny_config, tmp_path):
    path = tmp_path / "best.pt"
    broken = {**payload(tiny_config), "config": {**tiny_config.to_dict(), "width": -3}}
    save_checkpoint_atomically(path, broken)
    with pytest.raises(CheckpointError, match="width"):
        model_from_checkpoint(path)
