"""--log mlflow: the run's settings as params, every epoch's metrics (step = epoch), and at the end curves.png,
config.json, results.csv and (with --mlflow-checkpoint) best.pt as artifacts, in experiment "seglab". The tracking
URI is --mlflow-uri, else $MLFLOW_TRACKING_URI, else a local store in mlruns/ beside the runs folder (an SQLite
database and an artifacts folder: `mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db` shows it). A resumed
run carries on in the MLflow run it started (its id is kept in the run folder's mlflow-run.json)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from core.config import TrainConfig

EXPERIMENT = "seglab"
LOCAL_FOLDER = "mlruns"
MAX_PARAMS = 100  # MLflow's limit on params in one batch
RUN_RECORD = "mlflow-run.json"  # in the run folder: the tracking URI and MLflow run id the run logs to
END_STATES = {"finished": "FINISHED", "failed": "FAILED"}  # the rest (stopped, pruned): KILLED


def tracking_uri(config: TrainConfig, runs_root: Path) -> str:
    if config.mlflow_uri:
        return config.mlflow_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(runs_root.resolve().parent / LOCAL_FOLDER / 'mlflow.db')}"


def make_logger(config: TrainConfig, run_path: Path, runs_root: Path) -> MlflowLogger:
    # a dead server must cost one failed call, not MLflow's default minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    uri = tracking_uri(config, runs_root)
    if is_folder_store(uri):  # MLflow 3 refuses a folder store unless told; a user who names a folder means one
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowLogger(config, run_path, uri)


def is_folder_store(uri: str) -> bool:
    """Whether a tracking URI is a folder (a plain path or file://), MLflow's file store."""
    return uri.startswith("file:") or ("://" not in uri and uri != "databricks")


class MlflowLogger:
    def __init__(self, config: TrainConfig, run_path: Path, uri: str):
        self.config, self.run_path, self.uri = config, run_path, uri
        self.client: Any = None
        self.run_id = ""

    def start(self) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        artifacts = None
        if self.uri.startswith("sqlite:///"):
            store = Path(self.uri.removeprefix("sqlite:///")).parent
            store.mkdir(parents=True, exist_ok=True)
            artifacts = (store / "artifacts").as_uri()
        client = MlflowClient(tracking_uri=self.uri)
        if (earlier := self._earlier_run(client)) is not None:  # a resumed run: the same MLflow run goes on
            client.update_run(earlier, status="RUNNING")
            self.client, self.run_id = client, earlier
            return
        experiment = client.get_experiment_by_name(EXPERIMENT)
        experiment_id = experiment.experiment_id if experiment else \
            client.create_experiment(EXPERIMENT, artifact_location=artifacts)
        run = client.create_run(experiment_id, run_name=self.run_path.name,
                                tags={"seglab.run_folder": str(self.run_path)})
        params = [Param(key, str(value)) for key, value in self.config.to_dict().items()]
        for first in range(0, len(params), MAX_PARAMS):
            client.log_batch(run.info.run_id, params=params[first:first + MAX_PARAMS])
        self.client, self.run_id = client, run.info.run_id
        from core.atomic_files import atomic_write_text

        atomic_write_text(self.run_path / RUN_RECORD, json.dumps({"uri": self.uri, "run_id": self.run_id}) + "\n")

    def _earlier_run(self, client: Any) -> str | None:
        """The MLflow run this run folder logged to before, when it is in this store still."""
        try:
            record = json.loads((self.run_path / RUN_RECORD).read_text())
            if record.get("uri") != self.uri:
                return None
            return client.get_run(str(record["run_id"])).info.run_id
        except Exception:  # noqa: BLE001 - no record, another store, a run deleted there: a new MLflow run
            return None

    def epoch(self, event: Any) -> None:
        from mlflow.entities import Metric

        values = {"train_loss": event.train_loss, "val_loss": event.val_loss, "val_dice": event.val_dice,
                  "val_iou": event.val_iou, "lr": event.lr, "epoch_seconds": event.seconds,
                  "images_per_s": event.images_per_s,
                  **{f"val_dice_{name}": value for name, value in event.class_dice.items()}}
        stamp = int(event.time * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, float(value), stamp, event.epoch)
                                                    for key, value in values.items() if value == value])

    def progress(self, event: Any, step: int) -> None:
        """Per-step losses stay in TensorBoard and events.jsonl: one HTTP call a few times a second is too many."""

    def picture(self, event: Any) -> None:
        self.client.log_artifact(self.run_id, event.path, artifact_path="progress")

    def finish(self, state: str) -> None:
        if not self.run_id:
            return
        files = [self.run_path / "curves.png", self.run_path / "config.json", self.run_path / "results.csv"]
        if self.config.mlflow_checkpoint:
            files.append(self.run_path / "checkpoints" / "best.pt")
        for path in files:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, END_STATES.get(state, "KILLED"), end_time=int(time.time() * 1000))
