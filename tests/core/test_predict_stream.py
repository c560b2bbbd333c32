"""Prediction as a stream: rows appended in input order as images finish, a stopped or killed run that a rerun
completes into the same results.csv as an uninterrupted one, a rerun with other settings starting over, and at
most a few images in flight whatever the number of inputs."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import TrainConfig
from core.errors import ConfigError
from core.inference.model_lanes import LanePlan
from core.inference.predict import predict
from core.inference.predict_resume import SETTINGS_JSON
from core.inference.predict_stream import batches_to_run
from core.models import build_model
from core.runs.folders import Run, create_run, runs_root
from core.training.checkpoints import save_checkpoint_atomically

SIZES = [(40, 30), (64, 64), (33, 50), (21, 20), (48, 36), (64, 40), (30, 64), (50, 50), (37, 23), (60, 45),
         (25, 61), (44, 44)]


def save_random_checkpoint(run: Run, seed: int) -> None:
    """An untrained UNet whose head is scaled so that its masks hold both classes (a fresh one's logits barely
    vary)."""
    torch.manual_seed(seed)
    model = build_model("unet", width=8).eval()
    probe = torch.linspace(-2, 2, 32).expand(2, 3, 32, 32) + torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(probe)
        model.head.weight /= logits.std()
        model.head.bias.copy_((model.head.bias - logits.median()) / logits.std())
    save_checkpoint_atomically(run.checkpoint_path("best"),
                               {"model": model.state_dict(), "epoch": 1, "config": run.load_config().to_dict()})


@pytest.fixture
def run() -> Run:
    config = TrainConfig(model="unet", data="synthetic", image_size=32, width=8, device="cpu", precision="fp32",
                         name="stream")
    made = create_run(config, runs_root())
    save_random_checkpoint(made, seed=0)
    return made


@pytest.fixture
def photos(tmp_path) -> Path:
    """A dozen photos of mixed sizes (smooth gradients plus noise, so masks vary within an image)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index, (width, height) in enumerate(SIZES):
        ramp = np.linspace(0, 255, width)[None, :, None] * np.linspace(0.2, 1, height)[:, None, None]
        pixels = np.clip(ramp + rng.normal(0, 40, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{index:02d}.{'jpg' if index % 3 else 'png'}")
    return folder


def stop_in_batch(batch: int, monkeypatch) -> threading.Event:
    """A stop event set while the model runs batch number `batch` (counting from 1): Ctrl-C part-way, at a place
    that does not depend on timing."""
    import core.inference.predict_stream as stream

    stop, calls, real = threading.Event(), [], stream.predict_logits

    def counted(*args, **kwargs):
        calls.append(1)
        if len(calls) == batch:
            stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "predict_logits", counted)
    return stop


def test_a_stopped_run_then_a_rerun_gives_the_same_results_csv_as_an_uninterrupted_run(run, photos, monkeypatch):
    whole = predict(run, inputs=[photos], output_name="whole", batch_size=4, device="cpu")
    assert whole["complete"] and whole["images"] == 12 and whole["resumed"] == 0
    assert 0.02 < whole["mean_foreground"] < 0.98  # masks with both classes: a mix-up of images would show

    stop = stop_in_batch(2, monkeypatch)  # one model lane (the tests' one torch thread): it ends with batch 2
    part = predict(run, inputs=[photos], output_name="part", batch_size=4, device="cpu", stop=stop)
    out = run.predictions_dir / "part"
    lines = (out / "results.csv").read_text().splitlines()
    assert not part["complete"] and part["images"] == 8 == len(lines) - 1  # two batches of four, then stopped
    assert [line.split(",")[0] for line in lines[1:]] == [f"photo{index:02d}" for index in range(8)]
    assert len(list(out.glob("*_mask.png"))) == 8 and len(list(out.glob("*_overlay.png"))) == 8

    notices = []
    rerun = predict(run, inputs=[photos], output_name="part", batch_size=4, device="cpu", notice=notices.append)
    assert rerun["complete"] and rerun["resumed"] == 8 and rerun["predicted"] == 4
    assert notices == ["resuming predictions/part: 8 of 12 images already done (delete the folder to start over)"]
    assert (out / "results.csv").read_bytes() == (run.predictions_dir / "whole" / "results.csv").read_bytes()
    for mask in (run.predictions_dir / "whole").glob("*.png"):
        assert np.array_equal(np.asarray(Image.open(mask)), np.asarray(Image.open(out / mask.name))), mask.name
    assert rerun["mean_foreground"] == pytest.approx(whole["mean_foreground"], abs=1e-6)


def test_a_run_killed_mid_batch_is_completed_from_its_whole_rows_only(run, photos):
    whole = run.predictions_dir / "whole"
    predict(run, inputs=[photos], output_name="whole", batch_size=4, device="cpu")
    killed = run.predictions_dir / "killed"
    predict(run, inputs=[photos], output_name="killed", batch_size=4, device="cpu")
    # as a kill -9 leaves it: six whole rows, half a seventh, and image 3's mask never renamed into place
    lines = (killed / "results.csv").read_bytes().split(b"\r\n")
    (killed / "results.csv").write_bytes(b"\r\n".join(lines[:7]) + b"\r\n" + lines[7][:10])
    (killed / "photo03_mask.png").unlink()
    (killed / "photo03_overlay.png").write_bytes(b"stale")

    rerun = predict(run, inputs=[photos], output_name="killed", batch_size=4, device="cpu")
    assert rerun["resumed"] == 5 and rerun["predicted"] == 7
    assert (killed / "results.csv").read_bytes() == (whole / "results.csv").read_bytes()
    assert (killed / "photo03_overlay.png").read_bytes() == (whole / "photo03_overlay.png").read_bytes()


def test_a_rerun_with_another_checkpoint_starts_over_saying_so(run, photos):
    predict(run, inputs=[photos], batch_size=4, device="cpu")
    out = run.predictions_dir / "files"
    first = (out / "results.csv").read_text()
    save_random_checkpoint(run, seed=1)  # retrained: another best.pt
    notices = []
    summary = predict(run, inputs=[photos], batch_size=4, device="cpu", notice=notices.append)
    assert notices == ["predictions/files was made with another checkpoint; starting over"]
    assert summary["resumed"] == 0 and summary["predicted"] == 12
    assert (out / "results.csv").read_text() != first
    fresh = run.predictions_dir / "fresh"
    predict(run, inputs=[photos], output_name="fresh", batch_size=4, device="cpu")
    assert (out / "results.csv").read_bytes() == (fresh / "results.csv").read_bytes()


def test_other_settings_start_over_and_a_folder_from_before_streaming_too(run, photos):
    out = run.predictions_dir / "files"
    predict(run, inputs=[photos], batch_size=4, device="cpu")
    notices = []
    predict(run, inputs=[photos], batch_size=4, device="cpu", alpha=0.8, notice=notices.append)
    assert notices == ["predictions/files was made with another alpha; starting over"]
    (out / SETTINGS_JSON).unlink()  # as seglab wrote folders before it recorded their settings
    notices.clear()
    summary = predict(run, inputs=[photos], batch_size=4, device="cpu", alpha=0.8, notice=notices.append)
    assert notices == ["predictions/files was made with settings seglab did not record; starting over"]
    assert summary["predicted"] == 12


def test_a_resumed_folder_whose_inputs_changed_lists_exactly_this_runs_images_in_input_order(run, photos):
    for late in ("photo00.png", "photo05.jpg"):
        (photos / late).rename(photos.parent / late)
    predict(run, inputs=[photos], batch_size=4, device="cpu")
    out = run.predictions_dir / "files"
    (photos / "photo07.jpg").rename(photos.parent / "photo07.jpg")  # gone from the input since
    for late in ("photo00.png", "photo05.jpg"):
        (photos.parent / late).rename(photos / late)

    notices = []
    summary = predict(run, inputs=[photos], batch_size=4, device="cpu", notice=notices.append)
    names = [line.split(",")[0] for line in (out / "results.csv").read_text().splitlines()[1:]]
    assert names == [f"photo{index:02d}" for index in range(12) if index != 7]
    assert summary["images"] == 11 and summary["resumed"] == 9 and summary["predicted"] == 2
    assert pictures(out) == {f"{name}_{kind}.png" for name in names for kind in ("mask", "overlay")}  # no photo07
    assert notices[-1].endswith("(delete the folder to start over); removed the pictures of 1 image not in this input")


def pictures(folder: Path) -> set[str]:
    return {path.name for path in folder.glob("*.png")}


def test_a_folder_predicted_again_with_fewer_photos_or_other_settings_holds_only_their_pictures(run, photos,
                                                                                                 tmp_path):
    out = run.predictions_dir / "files"
    predict(run, inputs=[photos], batch_size=4, device="cpu")
    assert len(pictures(out)) == 24
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in sorted(photos.iterdir())[3:]:
        path.rename(aside / path.name)
    few = sorted(photos.iterdir())
    predict(run, inputs=[photos], batch_size=4, device="cpu")  # the same settings, three photos left in the folder
    assert pictures(out) == {f"{path.stem}_{kind}.png" for path in few for kind in ("mask", "overlay")}
    (out / "unrelated.txt").write_text("kept")
    few[1].unlink()
    few[2].unlink()
    predict(run, inputs=[photos], batch_size=4, device="cpu", alpha=0.8)  # starts over
    assert pictures(out) == {f"{few[0].stem}_mask.png", f"{few[0].stem}_overlay.png"}
    assert (out / "unrelated.txt").read_text() == "kept"


def test_a_folder_of_another_inputs_predictions_is_refused_and_kept_whole(run, photos):
    """Predicting other photos (or a split) under a name already used emptied the folder of the first input's
    results: `--input b.jpg --name test` removed the test split's 30 overlays and Dice rows."""
    split_out = run.predictions_dir / "test"
    predict(run, split="test", batch_size=4, device="cpu")
    before = {path.name: path.read_bytes() for path in split_out.iterdir()}
    one = sorted(photos.iterdir())[0]
    with pytest.raises(ConfigError) as refused:
        predict(run, inputs=[one], output_name="test", batch_size=4, device="cpu")
    assert str(refused.value) == (f"predictions/test holds the predictions of the test split; give another --name "
                                  f"for {one.resolve()} (or delete that folder to reuse its name)")
    assert {path.name: path.read_bytes() for path in split_out.iterdir()} == before
    predict(run, inputs=[photos], batch_size=4, device="cpu")
    with pytest.raises(ConfigError, match=r"^predictions/files holds the predictions of .*photos; give another "
                                          r"--name for the val split \(or delete"):
        predict(run, split="val", output_name="files", batch_size=4, device="cpu")
    assert len(pictures(run.predictions_dir / "files")) == 24


def test_without_a_name_other_inputs_get_a_folder_of_their_own_and_each_input_resumes_its_own(run, photos):
    one = sorted(photos.iterdir())[0]
    first = predict(run, inputs=[photos], batch_size=4, device="cpu")
    notices = []
    second = predict(run, inputs=[one], batch_size=4, device="cpu", notice=notices.append)
    assert Path(first["output"]).name == "files" and Path(second["output"]).name == "files-2"
    assert notices == [f"predictions/files holds the predictions of {photos.resolve()}; writing predictions/files-2"]
    assert len(pictures(run.predictions_dir / "files")) == 24 and len(pictures(run.predictions_dir / "files-2")) == 2
    again = predict(run, inputs=[photos], batch_size=4, device="cpu")
    assert Path(again["output"]).name == "files" and again["resumed"] == 12
    assert Path(predict(run, inputs=[one], batch_size=4, device="cpu")["output"]).name == "files-2"


def test_inputs_given_relative_are_recorded_absolute(run, photos, monkeypatch):
    """results.csv's image column and summary.json's input held the paths as typed: useless from another folder."""
    import csv
    import json

    monkeypatch.chdir(photos.parent)
    summary = predict(run, inputs=["photos"], batch_size=4, device="cpu")
    assert summary["input"] == [str(photos)]
    with open(Path(summary["output"]) / "results.csv", newline="") as f:
        images = [row["image"] for row in csv.DictReader(f)]
    assert len(images) == 12 and all(Path(image).is_absolute() and Path(image).parent == photos for image in images)
    assert json.loads((Path(summary["output"]) / "summary.json").read_text())["input"] == [str(photos)]


def test_a_folder_of_no_rows_records_the_input_that_fills_it(run, photos):
    """A folder left empty by one input and filled by another kept the first input's name: a rerun of the second
    went to files-2, and --name files was refused as holding the first's predictions."""
    first, second = sorted(photos.iterdir())[:2]
    out = run.predictions_dir / "files"
    predict(run, inputs=[first], batch_size=4, device="cpu")
    (out / "results.csv").write_text((out / "results.csv").read_text().splitlines(keepends=True)[0])  # no row
    assert Path(predict(run, inputs=[second], batch_size=4, device="cpu")["output"]).name == "files"
    again = predict(run, inputs=[second], output_name="files", batch_size=4, device="cpu")
    assert again["resumed"] == 1


def test_a_folder_an_earlier_seglab_wrote_is_never_emptied_by_another_input(run, photos):
    """Its settings name no input: it was taken as this input's, and emptied."""
    import json

    predict(run, split="test", batch_size=4, device="cpu")
    out = run.predictions_dir / "test"
    settings = json.loads((out / SETTINGS_JSON).read_text())
    del settings["input"]  # as seglab wrote it before it recorded inputs
    (out / SETTINGS_JSON).write_text(json.dumps(settings))
    before = sorted(path.name for path in out.iterdir())
    with pytest.raises(ConfigError, match="^predictions/test holds the predictions of the test split"):
        predict(run, inputs=[photos], output_name="test", batch_size=4, device="cpu")  # summary.json says so
    (out / "summary.json").write_text(json.dumps({"input": ["photos"]}))  # relative, as typed: not known for sure
    with pytest.raises(ConfigError, match="^predictions/test holds the predictions of an input an earlier seglab"):
        predict(run, inputs=[photos], output_name="test", batch_size=4, device="cpu")
    assert sorted(path.name for path in out.iterdir()) == before


def test_a_first_row_cut_short_counts_as_no_row(run, photos):
    """The folder's input was read through the csv reader, which failed on the cut row with an internal error."""
    predict(run, inputs=[photos], batch_size=4, device="cpu")
    out = run.predictions_dir / "files"
    header, first = (out / "results.csv").read_text().splitlines(keepends=True)[:2]
    (out / "results.csv").write_text(header + first[:5])  # killed while writing the first row
    summary = predict(run, inputs=[sorted(photos.iterdir())[0]], batch_size=4, device="cpu")
    assert Path(summary["output"]).name == "files" and summary["predicted"] == 1


def test_one_folder_named_two_ways_is_one_input(run, photos, monkeypatch):
    monkeypatch.chdir(photos)
    first = predict(run, inputs=["."], batch_size=4, device="cpu")
    second = predict(run, inputs=[f"../{photos.name}"], batch_size=4, device="cpu")
    assert Path(first["output"]) == Path(second["output"]) and second["resumed"] == 12


def test_batches_are_cut_at_the_same_places_when_resuming():
    keys = [(str(index), "") for index in range(10)]
    done = {keys[index] for index in range(5)}
    assert batches_to_run(keys, done, 4) == [range(4, 8), range(8, 10)]


def test_a_png_write_cut_short_leaves_neither_half_a_file_nor_its_temporary(tmp_path, monkeypatch):
    import core.png_writer
    from core.png_writer import write_png

    real_output = core.png_writer.atomic_output

    class HalfThenStop:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    @contextmanager
    def interrupted_output(path, mode, sync):
        with real_output(path, mode, sync) as f:
            yield HalfThenStop(f)

    monkeypatch.setattr(core.png_writer, "atomic_output", interrupted_output)
    with pytest.raises(KeyboardInterrupt):
        write_png(tmp_path / "cat_mask.png", np.zeros((8, 8, 3), dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


def stream_with_the_model_watched(run: Run, photos: Path, tmp_path: Path, monkeypatch, device: str,
                                  plan: LanePlan | None = None) -> list[int]:
    """predict_stream over the photos with its decoding and writing slowed a little and counted: how many of them
    were running each time the model started and ended a batch."""
    import time
    from contextlib import nullcontext
    from types import SimpleNamespace

    import core.inference.predict_stream as stream
    from core.data.labels import BINARY
    from core.inference.predict import collect_inputs
    from core.inference.results import ResultTotals
    from core.training.checkpoints import model_from_checkpoint

    lock, running, seen = threading.Lock(), [0], []

    def counted(function, pause=0.01):
        def wrapper(*args, **kwargs):
            with lock:
                running[0] += 1
            try:
                time.sleep(pause)
                return function(*args, **kwargs)
            finally:
                with lock:
                    running[0] -= 1
        return wrapper

    def watched_model(model, x, tta, multiclass):
        seen.append(running[0])
        time.sleep(0.02)
        seen.append(running[0])
        return real_logits(model, x, tta, multiclass)

    real_logits = stream.predict_logits
    monkeypatch.setattr(stream, "open_image", counted(stream.open_image))
    monkeypatch.setattr(stream, "write_prediction", counted(stream.write_prediction))
    monkeypatch.setattr(stream, "predict_logits", watched_model)
    samples = collect_inputs([photos])
    keys = [(sample.name, str(sample.image)) for sample in samples]
    runtime = SimpleNamespace(device=torch.device(device), prepare_batch=lambda x: x, autocast=nullcontext)
    model = model_from_checkpoint(run.checkpoint_path("best"))[0].eval()
    out = tmp_path / "out"
    out.mkdir()
    counts = stream.StreamCounts(ResultTotals(BINARY))
    stream.predict_stream(samples, keys, set(), model, runtime, 32, BINARY, out, batch_size=4, alpha=0.5,
                          tta="none", skip_bad=False, counts=counts, plan=plan)
    assert counts.predicted == 12 and len((out / "results.csv").read_text().splitlines()) == 12  # rows, no header
    return seen


def test_a_lane_with_every_core_runs_beside_no_decoding_or_writing(run, photos, tmp_path, monkeypatch):
    """A forward pass on every core would wait at each barrier for a thread that decoding or writing took off its
    core (bench/README.md, predict)."""
    seen = stream_with_the_model_watched(run, photos, tmp_path, monkeypatch, "cpu", LanePlan(1, exclusive=True))
    assert len(seen) == 6 and seen == [0] * 6


@pytest.mark.parametrize(("device", "plan"), [("cpu", LanePlan(1)), ("cuda", None)])
def test_a_single_threaded_lane_and_a_gpus_lane_have_the_next_batch_decoded_while_the_model_runs(
        run, photos, tmp_path, monkeypatch, device, plan):
    assert max(stream_with_the_model_watched(run, photos, tmp_path, monkeypatch, device, plan)) > 0


def test_two_lanes_give_the_files_and_rows_of_one_and_leave_torchs_threads_as_they_were(run, photos, monkeypatch):
    import core.inference.predict_stream as stream

    one = predict(run, inputs=[photos], output_name="one", batch_size=2, device="cpu")
    model_threads, real = set(), stream.predict_logits

    def recorded(*args, **kwargs):
        model_threads.add((threading.current_thread().name, torch.get_num_threads()))
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "predict_logits", recorded)
    torch.set_num_threads(2)
    try:
        two = predict(run, inputs=[photos], output_name="two", batch_size=2, device="cpu")
        later = []  # a thread started after the run takes torch's process-wide setting
        thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert torch.get_num_threads() == 2 and later == [2]
    finally:
        torch.set_num_threads(1)
    assert model_threads == {("seglab-model-0", 1), ("seglab-model-1", 1)}
    assert two["predicted"] == one["predicted"] == 12 and (one["model_lanes"], two["model_lanes"]) == (1, 2)
    first, second = run.predictions_dir / "one", run.predictions_dir / "two"
    assert (first / "results.csv").read_bytes() == (second / "results.csv").read_bytes()
    for png in first.glob("*.png"):
        assert png.read_bytes() == (second / png.name).read_bytes(), png.name


def test_with_two_lanes_an_unreadable_image_stops_the_run_after_the_rows_before_its_batch(run, photos):
    from core.errors import DataError

    (photos / "photo05.jpg").write_bytes(b"not a photo")
    torch.set_num_threads(2)
    try:
        with pytest.raises(DataError, match="photo05.jpg"):
            predict(run, inputs=[photos], batch_size=2, device="cpu")
    finally:
        torch.set_num_threads(1)
    rows = (run.predictions_dir / "files" / "results.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["photo00", "photo01", "photo02", "photo03"]


def test_each_images_torch_ops_run_on_a_model_lane_never_in_the_decoding_and_writing_threads(run, photos,
                                                                                         monkeypatch):
    """torch called from a writing thread starts another team of compute threads beside the lanes', and each
    team busy-waits on the cores the others need (core/omp_spin.py)."""
    import core.inference.predict_outputs as outputs

    threads = []
    real = outputs.F.interpolate

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(outputs.F, "interpolate", recorded)
    summary = predict(run, inputs=[photos], output_name="threads", batch_size=4, device="cpu")
    assert summary["predicted"] == 12 and len(threads) >= 12
    assert set(threads) == {"seglab-model-0"}


def test_ctrl_c_while_rows_are_appended_still_appends_every_whole_batch_in_hand(run, photos, monkeypatch):
    """KeyboardInterrupt reaches the appending thread; the batches a lane has already finished are appended in
    input order before it propagates, and a rerun completes the folder into the uninterrupted results.csv."""
    import core.inference.predict_stream as stream

    whole = run.predictions_dir / "whole"
    predict(run, inputs=[photos], output_name="whole", batch_size=4, device="cpu")
    second_batch_back = threading.Event()

    class WatchedHandOver(stream.BatchHandOver):
        def give_back(self, position, done):
            super().give_back(position, done)
            if position == 1:
                second_batch_back.set()

    def interrupt(done, total):
        if done == 4:  # the first batch appended: Ctrl-C once the lane has handed the second back
            assert second_batch_back.wait(timeout=30)
            raise KeyboardInterrupt

    monkeypatch.setattr(stream, "BatchHandOver", WatchedHandOver)
    with pytest.raises(KeyboardInterrupt):
        predict(run, inputs=[photos], output_name="cut", batch_size=4, device="cpu", progress=interrupt)
    cut = run.predictions_dir / "cut"
    names = [line.split(",")[0] for line in (cut / "results.csv").read_text().splitlines()[1:]]
    assert len(names) in (8, 12) and names == [f"photo{index:02d}" for index in range(len(names))]
    predict(run, inputs=[photos], output_name="cut", batch_size=4, device="cpu")
    assert (cut / "results.csv").read_bytes() == (whole / "results.csv").read_bytes()
