"""--log tensorboard and --log mlflow: read back with each tracker's own reader, and a tracker whose server is gone
costs one warning event, never the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import TrainConfig
from core.errors import ConfigError
from core.runs.events import EpochEvent, PictureEvent, WarningEvent, read_events
from core.runs.folders import create_run, runs_root
from core.training.engine import train
from core.training.loggers import check_loggers


def trained(config: TrainConfig):
    run = create_run(config, runs_root())
    assert train(config, run).state == "finished"
    return run, [event for event in read_events(run.events_path) if isinstance(event, EpochEvent)]


def test_tensorboard_holds_every_epochs_val_dice_and_the_progress_pictures(tiny_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, epochs = trained(tiny_config.replace(log="tensorboard", epochs=4, lr=5e-3, synthetic_count=48))
    board = EventAccumulator(str(run.path / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    board.Reload()
    assert [(s.step, s.value) for s in board.Scalars("val/dice")] == \
        [(e.epoch, pytest.approx(e.val_dice, abs=1e-6)) for e in epochs]
    assert [s.value for s in board.Scalars("lr")] == [pytest.approx(e.lr) for e in epochs]
    assert len(board.Scalars("train/loss_step")) >= 3
    (best,) = board.Scalars("hparam/best_val_dice")  # the hparams with the final metrics
    top = max(e.val_dice for e in epochs)
    assert top > 0 and best.value == pytest.approx(top, abs=1e-6)
    pictures = [e for e in read_events(run.events_path) if isinstance(e, PictureEvent)]
    images = board.Images("progress")
    assert [image.step for image in images] == [p.epoch for p in pictures] == [1, 2, 3, 4]
    assert images[0].encoded_image_string[:4] == b"\x89PNG"


def test_mlflow_on_a_local_store_holds_the_params_and_each_epochs_metrics(tiny_config):
    from mlflow.tracking import MlflowClient

    run, epochs = trained(tiny_config.replace(log="mlflow", lr=5e-3, epochs=4, synthetic_count=48))
    store = runs_root().resolve().parent / "mlruns" / "mlflow.db"  # beside the runs folder
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    (logged,) = client.search_runs([client.get_experiment_by_name("seglab").experiment_id])
    assert logged.info.run_name == run.path.name and logged.info.status == "FINISHED"
    assert logged.data.params["lr"] == "0.005" and logged.data.params["model"] == "unet"
    history = client.get_metric_history(logged.info.run_id, "val_dice")
    assert max(e.val_dice for e in epochs) > 0  # values that tell val Dice from a metric that stays 0
    assert [(m.step, m.value) for m in history] == [(e.epoch, pytest.approx(e.val_dice)) for e in epochs]
    artifacts = {item.path for item in client.list_artifacts(logged.info.run_id)}
    assert {"config.json", "curves.png", "results.csv", "progress"} <= artifacts


def test_an_unreachable_tracking_server_is_one_warning_and_the_run_finishes(tiny_config):
    run, epochs = trained(tiny_config.replace(log="mlflow", mlflow_uri="http://127.0.0.1:9"))
    assert len(epochs) == 2 and run.read_status().state == "finished"
    warnings = [e.message for e in read_events(run.events_path) if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and warnings[0].startswith("mlflow: ")
    assert "retrying every 30 s" in warnings[0]


def test_a_tracker_not_installed_is_one_line_naming_its_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name))
    with pytest.raises(ConfigError, match=r"log: mlflow needs the mlflow package: pip install 'seglab\[mlflow\]'"):
        check_loggers(TrainConfig(log="tensorboard,mlflow"))


def test_an_unknown_tracker_is_refused():
    with pytest.raises(ConfigError, match="log: 'wandb' is not one of tensorboard, mlflow"):
        TrainConfig(log="tensorboard,wandb")


def test_logs_stay_out_of_the_checkout():
    assert not (Path(__file__).resolve().parents[2] / "mlruns").exists()


def test_a_resumed_run_carries_on_in_the_same_mlflow_run(tiny_config):
    import threading

    from mlflow.tracking import MlflowClient

    config = tiny_config.replace(log="mlflow", lr=5e-3, epochs=4, synthetic_count=48)
    run, stop = create_run(config, runs_root()), threading.Event()
    first = train(config, run, stop=stop,
                  on_event=lambda event: stop.set() if isinstance(event, EpochEvent) and event.epoch == 2 else None)
    assert first.state == "stopped"
    assert train(config, run, resume=True).state == "finished"
    client = MlflowClient(tracking_uri=f"sqlite:///{runs_root().resolve().parent / 'mlruns' / 'mlflow.db'}")
    (logged,) = client.search_runs([client.get_experiment_by_name("seglab").experiment_id])
    assert logged.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(logged.info.run_id, "val_dice")] == [1, 2, 3, 4]


def test_a_resumed_run_writes_its_hparams_point_at_each_end_with_the_best_of_every_session(tiny_config):
    """Resumed, the run wrote a second hparams point at the same step, with the best val Dice of its last session
    only."""
    import threading

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from core.training.loggers.tensorboard import make_logger

    def hparam_points(folder):
        board = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        board.Reload()
        return [(s.step, s.value) for s in board.Scalars("hparam/best_val_dice")]

    config = tiny_config.replace(log="tensorboard", lr=5e-3, epochs=4, synthetic_count=48)
    run, stop = create_run(config, runs_root()), threading.Event()
    train(config, run, stop=stop,
          on_event=lambda event: stop.set() if isinstance(event, EpochEvent) and event.epoch == 2 else None)
    assert train(config, run, resume=True).state == "finished"
    epochs = [event for event in read_events(run.events_path) if isinstance(event, EpochEvent)]
    best = max(e.val_dice for e in epochs)
    assert hparam_points(run.path / "tensorboard") == [(2, pytest.approx(max(e.val_dice for e in epochs[:2]))),
                                                       (4, pytest.approx(best))]

    # the best of an earlier session stays the best when the resumed epochs do worse
    run.update_status(best_dice=0.97, epoch=4)
    logger = make_logger(config, run.path, runs_root())
    logger.folder = run.path / "again"
    logger.start()
    logger.epoch(EpochEvent(epoch=5, epochs=5, train_loss=0.3, val_loss=0.4, val_dice=0.5, val_iou=0.4, lr=1e-4,
                            seconds=1.0, is_best=False))
    logger.finish("finished")
    assert hparam_points(run.path / "again") == [(5, pytest.approx(0.97))]


def test_mlflow_into_a_folder_the_user_names_logs_there(tiny_config, tmp_path):
    """MLflow 3 refuses a folder store (its file backend is in maintenance) unless told: `--mlflow-uri FOLDER`
    logged nothing, with a warning cut mid-sentence."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "my mlruns"
    run, epochs = trained(tiny_config.replace(log="mlflow", mlflow_uri=str(folder)))
    assert not [e for e in read_events(run.events_path) if isinstance(e, WarningEvent)]
    client = MlflowClient(tracking_uri=str(folder))
    (logged,) = client.search_runs([client.get_experiment_by_name("seglab").experiment_id])
    assert logged.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(logged.info.run_id, "val_dice")] == [e.epoch for e in epochs]
