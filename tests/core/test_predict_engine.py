"""predict --engine auto: the faster engine by a (here faked) measurement, remembered per machine and checkpoint
in the user cache, torch without measuring where ONNX Runtime cannot run, and said in summary.json."""

from __future__ import annotations

import json

import pytest
import torch

from core.config import TrainConfig
from core.device import Runtime
from core.errors import ConfigError
from core.inference import engine_choice
from core.inference.engine_choice import LoadedEngine, cache_path, load_engine
from core.inference.predict import predict
from core.models import build_model
from core.runs.folders import Run, create_run, runs_root
from core.training.checkpoints import model_from_checkpoint, save_checkpoint_atomically


def make_run(name: str) -> Run:
    config = TrainConfig(model="unet", data="synthetic", image_size=32, width=8, device="cpu", precision="fp32",
                         name=name, synthetic_count=12, synthetic_size=32)
    run = create_run(config, runs_root())
    torch.manual_seed(0)
    save_checkpoint_atomically(run.checkpoint_path("best"), {"model": build_model("unet", width=8).state_dict(),
                                                            "epoch": 1, "config": run.load_config().to_dict()})
    return run


class FakeOnnx:
    """Stands in for the ONNX export (whose making takes seconds): the torch model's logits."""

    def __init__(self, model):
        self.model = model

    def __call__(self, images):
        with torch.inference_mode():
            return self.model(images)


@pytest.fixture
def timings(monkeypatch):
    """Fake images/s per engine, and the measurements taken (an engine name per timed engine)."""
    rates = {"torch": 10.0, "onnx": 20.0}
    measured: list[str] = []

    def fake_time_engine(name, step, batch_size):
        step()  # the engine really runs a batch: a broken step would show
        measured.append(name)
        return rates[name]

    def fake_onnx(run, checkpoint, choice):
        model, _, _ = model_from_checkpoint(run.checkpoint_path(checkpoint))
        return LoadedEngine(FakeOnnx(model.eval()), Runtime(torch.device("cpu"), "fp32", False), choice)

    monkeypatch.setattr(engine_choice, "time_engine", fake_time_engine)
    monkeypatch.setattr(engine_choice, "_onnx", fake_onnx)
    return rates, measured


TIMES = engine_choice.TIMED_ROUNDS  # batches timed per engine in one measurement
ONE = 2 * TIMES  # timed batches of one measurement, both engines


def choose(run: Run, batch_size: int = 4):
    model, config, _ = model_from_checkpoint(run.checkpoint_path("best"))
    return load_engine("auto", run, "best", model, config, "cpu", batch_size).choice


@pytest.mark.parametrize(("torch_rate", "onnx_rate", "expected"), [(10.0, 20.0, "onnx"), (20.0, 10.0, "torch")])
def test_auto_picks_the_engine_measured_faster(timings, torch_rate, onnx_rate, expected):
    rates, measured = timings
    rates.update(torch=torch_rate, onnx=onnx_rate)
    choice = choose(make_run("pick"))
    assert choice.engine == expected
    assert sorted(measured) == sorted(["onnx", "torch"] * TIMES)
    assert choice.rates == {"torch": torch_rate, "onnx": onnx_rate}
    other = "torch" if expected == "onnx" else "onnx"
    assert choice.reason.startswith(f"auto: 2.00x {other}'s rate on this machine, measured ")


def test_the_measurement_is_reused_until_the_model_or_the_machine_changes(timings, monkeypatch):
    _, measured = timings
    run = make_run("cached")
    first = choose(run)
    assert len(measured) == ONE and not first.cached
    again = choose(run)
    assert len(measured) == ONE and again.cached and again.engine == first.engine and again.rates == first.rates

    choose(run, batch_size=8)  # another batch size runs at another rate
    assert len(measured) == 2 * ONE
    choose(make_run("other-model"))
    assert len(measured) == 3 * ONE
    machine = engine_choice.machine_identity()
    monkeypatch.setattr(engine_choice, "machine_identity", lambda: {**machine, "cpu": "another CPU"})
    choose(run)
    assert len(measured) == 4 * ONE


def test_a_retrained_checkpoint_is_measured_again(timings):
    _, measured = timings
    run = make_run("retrained")
    choose(run)
    save_checkpoint_atomically(run.checkpoint_path("best"), {"model": build_model("unet", width=8).state_dict(),
                                                            "epoch": 2, "config": run.load_config().to_dict()})
    choose(run)
    assert len(measured) == 2 * ONE


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]", '{"key": {"rates": "fast", "measured": 3}}'])
def test_a_corrupt_cache_file_is_ignored_and_rewritten(timings, garbage):
    _, measured = timings
    cache_path().parent.mkdir(parents=True, exist_ok=True)
    cache_path().write_text(garbage)
    run = make_run("corrupt")
    assert choose(run).engine == "onnx"
    assert len(measured) == ONE
    entries = json.loads(cache_path().read_text())
    assert [record["rates"] for record in entries.values()] == [{"torch": 10.0, "onnx": 20.0}]
    assert choose(run).cached


def test_without_onnxruntime_auto_runs_torch_saying_why(timings, monkeypatch):
    _, measured = timings
    from core.inference import export

    def missing():
        raise ConfigError(export.EXPORT_EXTRA)

    monkeypatch.setattr(export, "require_onnx", missing)
    choice = choose(make_run("no-ort"))
    assert choice.engine == "torch" and measured == []
    assert "onnxruntime is not installed" in choice.reason


def test_on_a_gpu_auto_runs_torch_without_measuring(timings, monkeypatch):
    _, measured = timings
    monkeypatch.setattr(engine_choice, "_torch", lambda model, config, device: (
        model, Runtime(torch.device("cuda"), "bf16", True)))
    choice = choose(make_run("gpu"))
    assert choice.engine == "torch" and choice.reason == "auto: cuda runs torch" and measured == []


def test_predict_with_auto_says_which_engine_ran_and_why_in_summary_json(timings, tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 30), (120, 80, 40)).save(tmp_path / "cat.png")
    run = make_run("said")
    notices = []
    summary = predict(run, inputs=[tmp_path / "cat.png"], device="cpu", engine="auto", notice=notices.append)
    written = json.loads((run.predictions_dir / "files" / "summary.json").read_text())
    assert written["engine"] == "onnx" and summary["engine"] == "onnx"
    assert written["engine_choice"]["images_per_second"] == {"torch": 10.0, "onnx": 20.0}
    assert written["engine_choice"]["reason"].startswith("auto: 2.00x torch's rate")
    assert notices[0].startswith("engine: onnx (auto: 2.00x torch's rate on this machine, measured ")
    assert (run.predictions_dir / "files" / "cat_mask.png").is_file()


def test_core_predict_still_runs_torch_unless_asked(timings, tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 30), (120, 80, 40)).save(tmp_path / "cat.png")
    _, measured = timings
    summary = predict(make_run("default"), inputs=[tmp_path / "cat.png"], device="cpu")
    assert summary["engine"] == "torch" and summary["engine_choice"]["reason"] == "asked for" and measured == []


def test_torch_is_timed_as_prediction_runs_it_a_batch_in_each_model_lane():
    """With two torch threads prediction runs two single-threaded lanes at once (core/inference/model_lanes.py):
    auto must time torch that way, or it would compare ONNX Runtime with a slower torch than the one that runs."""
    import threading

    timed = []

    def fake_time_engine(name, step, images):
        step()
        timed.append((name, images))
        return 1.0

    model, lanes_seen = build_model("unet", width=8).eval(), set()
    model.register_forward_pre_hook(lambda module, args: lanes_seen.add(
        (threading.current_thread().name, torch.get_num_threads())))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_choice, "time_engine", fake_time_engine)
        torch.set_num_threads(2)
        try:
            engine_choice.measure_rates(model, Runtime(torch.device("cpu"), "fp32", False), lambda x: x, 32, 4)
            assert torch.get_num_threads() == 2
        finally:
            torch.set_num_threads(1)
    assert set(timed) == {("torch", 8), ("onnx", 4)} and len(timed) == 2 * engine_choice.TIMED_ROUNDS
    assert lanes_seen == {("seglab-model-0", 1), ("seglab-model-1", 1)}
