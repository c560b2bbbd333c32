"""Runs keep working wherever they are used from: data paths stored absolute, a finished --run-dir never
retrained over, and the notes that say when an option or a split does not mean what it seems."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from core.data.synthetic import generate_synthetic
from core.runs.folders import list_runs, runs_root
from tests.tui.test_cli import TINY_TRAIN, seglab, the_error_line

FOLDER_TRAIN = ["--epochs", "1", "--width", "8", "--image-size", "32", "--batch-size", "4", "--device", "cpu",
                "--workers", "0"]


@pytest.fixture
def made_here(tmp_path, monkeypatch):
    """A working directory holding a small dataset folder `mydata` (train/val/test subfolders)."""
    here = tmp_path / "project"
    generate_synthetic(here / "mydata", count=12, size=32, seed=0)
    monkeypatch.chdir(here)
    return here


@pytest.mark.slow
def test_a_run_on_a_relative_data_folder_evaluates_predicts_and_resumes_from_elsewhere(
        capsys, made_here, tmp_path, monkeypatch):
    code, out, err = seglab(capsys, "train", "--data", "mydata", *FOLDER_TRAIN)
    assert code == 0, err
    (run,) = list_runs(runs_root())
    stored = json.loads(run.config_path.read_text())["data"]
    assert stored == str(made_here / "mydata")  # absolute, not as typed

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = seglab(capsys, "evaluate", str(run.path))
    assert code == 0, err
    assert json.loads((run.path / "eval-test.json").read_text())["images"] == 1
    code, out, err = seglab(capsys, "predict", str(run.path))
    assert code == 0, err
    assert (run.predictions_dir / "test" / "summary.json").is_file()
    run.update_status(state="stopped")  # as if stopped in its last epoch: resumable (a finished run is refused)
    code, out, err = seglab(capsys, "train", "--resume", str(run.path))
    assert code == 0, err


def test_an_old_run_with_a_relative_data_path_names_the_path_it_tried(made_here, tmp_path, monkeypatch):
    from core.config import TrainConfig
    from core.errors import DataError
    from core.run_data import resolve_data_root

    config = TrainConfig(data="mydata")  # as runs made before paths were stored absolute
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as error:
        resolve_data_root(config)
    assert str(tmp_path / "mydata") in str(error.value) and "relative path" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_run_dir_prepared_by_hand_lists_its_model_and_data(capsys):
    """A folder holding only a hand-written config.json trained, but `seglab runs` showed its model and data as ?."""
    import json as json_module

    run_dir = runs_root() / "by-hand"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json_module.dumps({"epochs": 1, "data": "synthetic", "width": 8,
                                                            "image_size": 32, "synthetic_count": 12,
                                                            "synthetic_size": 32}))
    code, _, err = seglab(capsys, "train", "--run-dir", str(run_dir))
    assert code == 0, err
    status = json_module.loads((run_dir / "status.json").read_text())
    assert (status["model"], status["data"], status["state"]) == ("unet", "synthetic", "finished")


def test_run_dir_of_a_run_that_already_trained_is_refused_pointing_to_resume(capsys, tmp_path):
    run_dir = runs_root() / "mine"
    code, _, err = seglab(capsys, "train", *TINY_TRAIN, "--run-dir", str(run_dir))
    assert code == 0, err
    events, last = (run_dir / "events.jsonl").read_bytes(), (run_dir / "checkpoints" / "last.pt").read_bytes()

    code, _, err = seglab(capsys, "train", *TINY_TRAIN, "--epochs", "3", "--run-dir", str(run_dir))
    assert code == 2
    line = the_error_line(err)
    assert str(run_dir) in line and "already holds a run" in line and "--resume" in line
    assert (run_dir / "events.jsonl").read_bytes() == events  # nothing appended
    assert (run_dir / "checkpoints" / "last.pt").read_bytes() == last  # nothing overwritten


def test_options_beside_a_prepared_run_dir_are_refused_not_ignored(capsys):
    from core.config import TrainConfig
    from core.runs.folders import create_run

    run = create_run(TrainConfig(epochs=1), runs_root(), run_dir=runs_root() / "prepared")
    code, _, err = seglab(capsys, "train", "--run-dir", str(run.path), "--epochs", "5")
    assert code == 2
    line = the_error_line(err)
    assert "config.json prepared there" in line and "epochs" in line
    assert not run.events_path.exists()


def test_val_fraction_given_for_data_that_comes_split_prints_a_warning(capsys):
    code, _, err = seglab(capsys, "train", *TINY_TRAIN, "--val-fraction", "0.3")
    assert code == 0
    assert "--val-fraction is ignored" in err and "synthetic" in err


@pytest.mark.parametrize(("changes", "given", "warning"), [
    ({"time_budget": 2.0, "epochs": 5}, {"epochs"},
     "--epochs 5 is ignored: --time-budget 2 sets the epoch count after timing the first epoch"),
    ({"warmup_epochs": 3, "epochs": 1}, set(), "--warmup-epochs 3 covers all 1 epoch: the lr never leaves its warmup "
                                            "(from lr/100)"),
    ({"sync_bn": True}, set(), "--sync-bn is for several training processes (--nproc, torchrun); this run has one"),
    ({"mlflow_uri": "http://tracker:5000"}, set(), "--mlflow-uri and --mlflow-checkpoint apply with --log mlflow; "
                                                "nothing goes to MLflow"),
])
def test_settings_that_contradict_each_other_are_warned_about(tiny_config, changes, given, warning):
    """They were accepted in silence: a --time-budget run ran 264 epochs where --epochs 5 was given."""
    from tui.cli.train_command import settings_that_do_nothing

    assert settings_that_do_nothing(tiny_config.replace(**changes), given, 1) == [warning]
    assert settings_that_do_nothing(tiny_config, set(), 1) == []
    # a --from run's (or config file's) epochs beside a budget typed now; a budget's warmup: no contradiction
    assert settings_that_do_nothing(tiny_config.replace(time_budget=2.0, epochs=5), set(), 1) == []
    assert settings_that_do_nothing(tiny_config.replace(time_budget=60.0, warmup_epochs=25), set(), 1) == []


def test_a_contradiction_is_a_warning_line_of_the_command(capsys):
    code, _, err = seglab(capsys, "train", *TINY_TRAIN, "--warmup-epochs", "2")
    assert code == 0 and "seglab: warning: --warmup-epochs 2 covers all 1 epoch" in err


def test_epochs_from_a_config_file_beside_a_budget_typed_now_is_no_contradiction(capsys, tmp_path):
    settings = tmp_path / "saved.yaml"
    settings.write_text("epochs: 5\n")
    typed = [arg for index, arg in enumerate(TINY_TRAIN) if "--epochs" not in TINY_TRAIN[max(index - 1, 0):index + 1]]
    assert "--epochs" not in typed
    code, _, err = seglab(capsys, "train", *typed, "--config", str(settings), "--time-budget", "0.01")
    assert code == 0 and "is ignored" not in err, err


def flat_folder(root, count=10, size=32):
    """images/ + masks/ with no split subfolders: its test split is its val split."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        mask = np.zeros((size, size), np.uint8)
        x = int(rng.integers(2, size // 2))
        mask[x:x + 10, x:x + 12] = 255
        image = np.full((size, size, 3), 40, np.uint8)
        image[mask > 0] = (220, 180, 60)
        Image.fromarray(image).save(root / "images" / f"p{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"p{i}.png")
    return root


def test_scoring_the_test_split_of_a_flat_folder_says_it_is_the_val_split(capsys, tmp_path):
    data = flat_folder(tmp_path / "flat")
    (data / "train").mkdir()  # a stray empty train/ keeps the flat layout (issue 13, item 6)
    code, _, err = seglab(capsys, "train", "--data", str(data), *FOLDER_TRAIN)
    assert code == 0, err
    (run,) = list_runs(runs_root())
    code, _, err = seglab(capsys, "evaluate", str(run.path))
    assert code == 0 and "its test split is the val split" in err and "best.pt" in err
    code, _, err = seglab(capsys, "predict", str(run.path))
    assert code == 0 and "its test split is the val split" in err
    code, _, err = seglab(capsys, "evaluate", str(run.path), "--split", "train")
    assert code == 0 and "val split" not in err
    shutil.rmtree(run.path)


def test_resume_of_a_finished_run_is_refused_and_changes_nothing(capsys):
    run_dir = runs_root() / "done"
    code, _, err = seglab(capsys, "train", *TINY_TRAIN, "--run-dir", str(run_dir))
    assert code == 0, err
    kept = {name: (run_dir / name).read_bytes() for name in ("events.jsonl", "status.json", "checkpoints/last.pt")}

    code, _, err = seglab(capsys, "train", "--resume", "done")
    assert code == 2
    line = the_error_line(err)
    assert "done has finished" in line and "nothing to resume" in line and "--from done" in line
    assert {name: (run_dir / name).read_bytes() for name in kept} == kept  # no event, no new start time

    nested = runs_root() / "a" / "b" / "deep"  # outside the runs folder's own level: its name finds nothing there
    code, _, err = seglab(capsys, "train", *TINY_TRAIN, "--run-dir", str(nested))
    assert code == 0, err
    code, _, err = seglab(capsys, "train", "--resume", str(nested))
    assert code == 2 and f"`seglab train --from {nested} --epochs N`" in the_error_line(err)

