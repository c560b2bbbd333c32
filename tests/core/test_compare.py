"""Which images a comparison shows first (core/inference/compare.py): the ones the runs disagree on most."""

from __future__ import annotations


def test_images_are_ordered_by_the_share_of_pixels_the_runs_disagree_on():
    import numpy as np

    from core.inference.compare import Comparison, RunPredictions, disagreement, disputed_first

    blank = np.zeros((4, 4), dtype=np.uint8)
    half, corner = blank.copy(), blank.copy()
    half[:2] = 1
    corner[0, 0] = 1
    first = RunPredictions(["a", "b", "c"], [1, 1, 1], {"a": blank, "b": blank, "c": blank})
    second = RunPredictions(["a", "b", "c"], [1, 1, 1], {"a": corner, "b": half, "c": blank})
    shares = disagreement([first, second])
    assert shares == {"a": 1 / 16, "b": 0.5, "c": 0.0}
    assert disputed_first(shares) == ["b", "a", "c"]
    comparison = Comparison([], "test", "best", order=disputed_first(shares), disagreement=shares)
    assert comparison.chosen_images(1) == ["b"] and comparison.chosen_images(3)[:2] == ["b", "a"]


def test_a_resumed_epoch_counts_once_in_the_history_time_and_speed():
    from pathlib import Path

    from core.config import TrainConfig
    from core.inference.compare import ComparedRun
    from core.runs.events import EpochEvent
    from core.runs.folders import Run
    from core.runs.status import RunStatus

    def epoch(n: int, seconds: float, loss: float) -> EpochEvent:
        return EpochEvent(epoch=n, epochs=2, train_loss=loss, val_loss=loss, val_dice=0.5, val_iou=0.4, lr=1e-3,
                          seconds=seconds, is_best=False, time=0.0)

    # epoch 2 was cut short by a kill, then run again after --resume
    events = [epoch(1, 10.0, 0.9), epoch(2, 4.0, 0.8), epoch(2, 10.0, 0.7)]
    entry = ComparedRun(Run(Path("r")), TrainConfig(), RunStatus(train_images=40), events, {}, 0)
    assert [(e.epoch, e.train_loss) for e in entry.history] == [(1, 0.9), (2, 0.7)]
    assert entry.train_seconds == 20.0 and entry.images_per_second == 4.0  # 2 epochs x 40 images / 20 s


def test_runs_go_by_their_given_name_else_the_folder_without_its_time_and_the_folder_where_names_clash():
    from pathlib import Path

    from core.config import TrainConfig
    from core.inference.compare import ComparedRun, Comparison, display_names, table_rows
    from core.runs.folders import Run
    from core.runs.status import RunStatus

    def entry(folder: str, name: str = "") -> ComparedRun:
        return ComparedRun(Run(Path("/runs") / folder), TrainConfig(name=name), RunStatus(), [], {}, 0)

    given = [entry("20261206-064657-unet-study", "study"), entry("20261206-070000-resnet34_unet-r34", "r34")]
    assert display_names(given) == ["study", "r34"]
    unnamed = [entry("20261206-064657-unet"), entry("20261206-070000-resnet34_unet")]
    assert display_names(unnamed) == ["unet", "resnet34_unet"]
    clash = [entry("20261206-064657-unet-a", "same"), entry("20261206-070000-unet-b", "same"), entry("x-1", "other")]
    assert display_names(clash) == ["20261206-064657-unet-a", "20261206-070000-unet-b", "other"]
    for compared, label in zip(given, display_names(given), strict=True):
        compared.label = label
    rows = table_rows(Comparison(given, "test", "best"), folders=True)
    assert [(row["run"], row["folder"]) for row in rows] == [("study", "20261206-064657-unet-study"),
                                                           ("r34", "20261206-070000-resnet34_unet-r34")]
    assert "folder" not in table_rows(Comparison(given, "test", "best"))[0]


def test_synthetic_runs_of_another_count_size_or_seed_are_other_data(tmp_path):
    import pytest

    from core.config import TrainConfig
    from core.errors import ConfigError
    from core.inference.compare import open_runs
    from core.runs.folders import create_run

    base = TrainConfig(data="synthetic", synthetic_count=40, synthetic_size=32, seed=0)
    same = [create_run(base.replace(name=name), tmp_path) for name in ("a", "b")]
    assert open_runs([run.name for run in same], tmp_path) == same
    for change in ({"synthetic_count": 300}, {"synthetic_size": 64}, {"seed": 1}):
        other = create_run(base.replace(name="other", **change), tmp_path)
        with pytest.raises(ConfigError, match=r"the runs differ in data \(.*a: synthetic \(40 images of 32 px, seed "
                                              r"0\), .*other: synthetic \(") as error:
            open_runs([same[0].name, other.name], tmp_path)
        assert "give --force" in str(error.value)
        assert open_runs([same[0].name, other.name], tmp_path, force=True)[1] == other
        other.path.rename(tmp_path / f"gone-{len(change)}-{next(iter(change))}")
