"""`seglab export` and `predict --engine onnx` on small real runs (binary UNet, 3-class ResNet18-UNet) of the
Oxford fixture: the files and their contract, parity with PyTorch at sizes the models must pad, the refusals,
and the missing extra named in one line."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.inference import export as export_module
from core.inference.export import OnnxModel
from core.runs.folders import list_runs
from core.training.checkpoints import model_from_checkpoint
from tests.tui.helpers import OXFORD_TINY, train_with_the_cli
from tests.tui.test_cli import seglab, the_error_line


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A binary UNet and a 3-class ResNet18-UNet, one epoch at 64 px on the fixture, in fp32."""
    quick = ["--epochs", "1", "--image-size", "64", "--precision", "fp32"]
    return train_with_the_cli(tmp_path_factory.mktemp("export") / "runs", [
        [*quick, "--model", "unet", "--name", "binary"],
        [*quick, "--model", "resnet18_unet", "--task", "multiclass", "--width", "32", "--name", "three"]])


def test_a_dynamic_onnx_export_has_its_contract_and_matches_pytorch_at_any_size(capsys, runs, tmp_path):
    out = tmp_path / "binary.onnx"
    code, printed, err = seglab(capsys, "export", "binary", "--dynamic", "--out", str(out), "--runs-dir", str(runs))
    assert code == 0, err
    assert "exporter: dynamo" in printed and "mask agreement 100.0000%" in printed
    contract = json.loads(Path(f"{out}.json").read_text())
    assert contract["input"]["shape"] == ["batch", 3, "height", "width"]
    assert contract["input"]["mean"] == [0.485, 0.456, 0.406] and contract["task"] == "binary"
    assert contract["output"]["shape"] == ["batch", 1, "height", "width"]
    assert contract["class_names"] == ["background", "foreground"]
    run = next(r for r in list_runs(runs) if r.name.endswith("-binary"))
    model, _, _ = model_from_checkpoint(run.checkpoint_path("best"))
    images = torch.randn(2, 3, 75, 113)  # neither 75 nor 113 is a multiple of 16: the model pads inside
    with torch.no_grad():
        expected = model.eval()(images)
    exported = OnnxModel(out)(images)
    assert exported.shape == (2, 1, 75, 113)
    assert (torch.sigmoid(exported) - torch.sigmoid(expected)).abs().max() < 1e-5


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_multiclass_model_exports_at_a_fixed_size_with_its_class_names(capsys, runs, fmt):
    code, printed, err = seglab(capsys, "export", "three", "--format", fmt, "--size", "64", "--runs-dir", str(runs))
    assert code == 0, err
    run = next(r for r in list_runs(runs) if r.name.endswith("-three"))
    path = run.path / "export" / f"best-64.{'onnx' if fmt == 'onnx' else 'pt'}"
    contract = json.loads(Path(f"{path}.json").read_text())
    assert contract["class_names"] == ["background", "pet", "border"]
    assert contract["output"]["shape"][1] == 3 and contract["input"]["shape"] == ["batch", 3, 64, 64]
    assert "parity on 4 images" in printed  # the fixture's test split


def test_predict_with_the_onnx_engine_writes_the_same_masks_as_torch(capsys, runs):
    code, _, err = seglab(capsys, "export", "binary", "--dynamic", "--runs-dir", str(runs))
    assert code == 0, err
    photos = OXFORD_TINY / "images"
    for engine in ("torch", "onnx"):
        code, _, err = seglab(capsys, "predict", "binary", "--engine", engine, "--name", engine, "--device", "cpu",
                              "--input", str(photos), "--runs-dir", str(runs))
        assert code == 0, err
    run = next(r for r in list_runs(runs) if r.name.endswith("-binary"))
    summary = json.loads((run.predictions_dir / "onnx" / "summary.json").read_text())
    assert summary["engine"] == "onnx" and summary["precision"] == "fp32"
    with open(run.predictions_dir / "onnx" / "results.csv", encoding="utf-8") as f:
        names = [row["name"] for row in csv.DictReader(f)]
    assert len(names) == len(list(photos.glob("*.jpg")))
    for name in names:
        masks = [np.array(Image.open(run.predictions_dir / engine / f"{name}_mask.png"))
                 for engine in ("torch", "onnx")]
        assert (masks[0] == masks[1]).mean() >= 0.999


def test_an_export_that_does_not_match_pytorch_exits_1(capsys, runs, monkeypatch):
    real = export_module.load_exported
    monkeypatch.setattr(export_module, "load_exported", lambda path, fmt: (lambda x: real(path, fmt)(x) + 5.0))
    code, printed, err = seglab(capsys, "export", "binary", "--runs-dir", str(runs))
    assert code == 1 and "does not match PyTorch" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--dynamic", "--format", "torchscript"], "--dynamic is for ONNX; a traced TorchScript model keeps the size "
                                                "it was traced at"),
    (["--dynamic", "--size", "64"], "give --size or --dynamic, not both"),
    (["--format", "tflite"], "--format: 'tflite' is not one of onnx, torchscript"),
    (["--checkpoint", "final"], "--checkpoint: 'final' is not one of best, last"),
])
def test_bad_export_options_are_one_line(capsys, runs, args, message):
    code, _, err = seglab(capsys, "export", "binary", *args, "--runs-dir", str(runs))
    assert code == 2 and the_error_line(err) == f"seglab: error: {message}"


def test_out_never_overwrites_a_checkpoint_or_a_file_that_is_not_an_export(capsys, runs, tmp_path):
    run = next(r for r in list_runs(runs) if r.name.endswith("-binary"))
    best = run.checkpoint_path("best")
    before = best.read_bytes()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for target in (best, notes):
        code, _, err = seglab(capsys, "export", "binary", "--format", "torchscript", "--out", str(target),
                              "--runs-dir", str(runs))
        assert code == 2 and the_error_line(err) == (f"seglab: error: --out {target}: already exists and is not an "
                                                     f"export (no {target.name}.json beside it); give a new file")
    assert best.read_bytes() == before and notes.read_text() == "mine"
    again = tmp_path / "model.pt"
    for _ in range(2):  # an export of its own is replaced
        code, _, err = seglab(capsys, "export", "binary", "--format", "torchscript", "--out", str(again),
                              "--runs-dir", str(runs))
        assert code == 0, err


def test_a_bad_format_is_named_before_the_run_is_looked_up(capsys, runs):
    code, _, err = seglab(capsys, "export", "no-such-run", "--format", "tflite", "--runs-dir", str(runs))
    assert code == 2 and the_error_line(err) == "seglab: error: --format: 'tflite' is not one of onnx, torchscript"


def test_an_out_path_that_cannot_be_the_file_is_one_line_before_any_export(capsys, runs, tmp_path, monkeypatch):
    import core.training.checkpoints

    monkeypatch.setattr(core.training.checkpoints, "model_from_checkpoint",
                        lambda *_: pytest.fail("exported before the check"))
    code, _, err = seglab(capsys, "export", "binary", "--out", str(tmp_path), "--runs-dir", str(runs))
    assert code == 2
    assert the_error_line(err).startswith(f"seglab: error: --out {tmp_path}: is a folder; give the file to write in")
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    code, _, err = seglab(capsys, "export", "binary", "--out", str(tmp_path / "notes.txt" / "m.onnx"),
                          "--runs-dir", str(runs))
    assert code == 2 and the_error_line(err).startswith(f"seglab: error: {tmp_path / 'notes.txt'}: cannot write here")


def test_without_the_export_extra_the_commands_name_it(capsys, runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    for args in (["export", "binary"], ["predict", "binary", "--engine", "onnx"]):
        code, _, err = seglab(capsys, *args, "--runs-dir", str(runs))
        assert code == 2
        assert the_error_line(err) == "seglab: error: onnx export needs the export extra: pip install 'seglab[export]'"


def test_a_corrupted_onnx_file_given_to_predict_is_one_line(capsys, runs):
    run = next(r for r in list_runs(runs) if r.name.endswith("-three"))
    code, _, err = seglab(capsys, "predict", "three", "--engine", "onnx", "--runs-dir", str(runs))
    assert code == 0, err
    broken = run.path / "export" / "best-dynamic.onnx"
    broken.write_bytes(b"\x08\x07not an onnx model")  # its contract still names this best.pt: taken as the export
    code, _, err = seglab(capsys, "predict", "three", "--engine", "onnx", "--runs-dir", str(runs))
    assert code == 2
    line = the_error_line(err)
    assert line.startswith(f"seglab: error: {broken}: not a usable ONNX model (") and "export it again" in line


def test_two_checkpoint_files_of_one_name_never_share_an_onnx_export(capsys, runs, tmp_path, monkeypatch):
    """The export was kept as export/<--checkpoint as typed>-dynamic.onnx and taken while newer than the file: a
    second model.pt in another folder was predicted with the first one's weights."""
    run = next(r for r in list_runs(runs) if r.name.endswith("-binary"))
    weak, good = tmp_path / "weak" / "model.pt", tmp_path / "good" / "model.pt"
    for path in (weak, good):
        path.parent.mkdir()
    payload = torch.load(run.checkpoint_path("best"), weights_only=False)
    torch.save(payload, good)
    weights = {key: torch.zeros_like(value) for key, value in payload["model"].items()}
    weights[[key for key in weights if key.endswith("bias")][-1]].fill_(10.0)  # the head's bias: all marked
    torch.save({**payload, "model": weights}, weak)
    marked = {}
    for folder in (weak.parent, good.parent):
        monkeypatch.chdir(folder)
        code, _, err = seglab(capsys, "predict", "binary", "--engine", "onnx", "--checkpoint", "model.pt",
                              "--name", folder.name, "--runs-dir", str(runs))
        assert code == 0, err
        with (run.predictions_dir / folder.name / "results.csv").open() as f:
            marked[folder.name] = [float(row["foreground"]) for row in csv.DictReader(f)]
    assert set(marked["weak"]) == {1.0} and max(marked["good"]) < 0.9
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["good", "model.pt", "model.pt", "weak"]  # none beside
    exports = sorted(path.name for path in (run.path / "export").glob("file-*-dynamic.onnx"))
    assert len(exports) == 2
    summary = json.loads((run.predictions_dir / "good" / "summary.json").read_text())
    assert summary["checkpoint"] == str(good)  # where it came from, whatever folder predict ran in


def test_an_export_left_without_its_contract_is_made_again_not_refused(capsys, runs):
    """A kill between the model file and its contract (or a failed parity check) left export/best-dynamic.onnx
    alone, and every later predict was refused by export's own --out guard."""
    run = next(r for r in list_runs(runs) if r.name.endswith("-binary"))
    code, _, err = seglab(capsys, "predict", "binary", "--engine", "onnx", "--name", "again", "--runs-dir", str(runs))
    assert code == 0, err
    (run.path / "export" / "best-dynamic.onnx.json").unlink()
    code, _, err = seglab(capsys, "predict", "binary", "--engine", "onnx", "--name", "again", "--runs-dir", str(runs))
    assert code == 0, err
    assert (run.path / "export" / "best-dynamic.onnx.json").is_file()


@pytest.mark.parametrize("name", ["unet", "resnet34_unet"])
def test_tiny_models_export_to_onnx_and_torchscript_and_match_pytorch(tmp_path, name):
    from core.inference.export import _export_onnx, _export_torchscript, load_exported
    from core.models import build_model

    torch.manual_seed(0)
    model = build_model(name, num_classes=3, width=8).eval()
    onnx_path, script_path = tmp_path / "m.onnx", tmp_path / "m.pt"
    _export_onnx(model, torch.zeros(1, 3, 64, 64), onnx_path, dynamic=True)
    _export_torchscript(model, torch.zeros(1, 3, 64, 64), script_path)
    for shape in ((2, 3, 64, 64), (1, 3, 75, 113)):
        images = torch.randn(*shape)
        with torch.no_grad():
            expected = torch.softmax(model(images), 1)
        got = torch.softmax(load_exported(onnx_path, "onnx")(images), 1)
        assert got.shape == expected.shape and (got - expected).abs().max() < 1e-4, shape
    images = torch.randn(1, 3, 64, 64)  # a trace keeps its size
    with torch.no_grad():
        traced = load_exported(script_path, "torchscript")(images)
        assert (torch.softmax(traced, 1) - torch.softmax(model(images), 1)).abs().max() < 1e-4
