"""The duration estimate shown before a run (core/training/estimate.py): its arithmetic on a known probe, the
probe itself on a tiny model, and a probe's result kept for the same settings."""

from __future__ import annotations

import json

import pytest

from core.run_data import cache_root
from core.training import estimate as estimate_module
from core.training.engine import train
from core.training.estimate import DurationEstimate, Throughput, estimate_duration, format_duration, split_sizes

from .helpers import new_run


@pytest.fixture(autouse=True)
def no_probes_from_other_tests(monkeypatch):
    """Probes are kept per process: each test starts without them."""
    monkeypatch.setattr(estimate_module, "_PROBED", {})


@pytest.mark.parametrize("asks_before_cancel", [0, 1, 3])
def test_a_cancelled_probe_stops_at_its_next_step_and_is_not_kept(tiny_config, monkeypatch, asks_before_cancel):
    """The new-run form's probe stops once the form closes (quitting the app waited ~10 s for it)."""
    from core.training.estimate import ProbeCancelled

    steps, real = [], estimate_module.random_training_step
    monkeypatch.setattr(estimate_module, "random_training_step",
                        lambda *args: (lambda made: lambda: steps.append(1) or made())(real(*args)))
    asks = []
    with pytest.raises(ProbeCancelled):
        estimate_duration(tiny_config, cancelled=lambda: asks.append(1) or len(asks) > asks_before_cancel)
    assert len(steps) <= asks_before_cancel + 1  # no step after the first "yes"
    assert estimate_module._PROBED == {}
    assert estimate_duration(tiny_config, cancelled=lambda: False).source == "probe"  # a later ask probes afresh


def test_durations_read_the_way_people_say_them():
    assert [format_duration(s) for s in (0.2, 40, 89, 95, 3599, 3600, 4500, 36000, 14.6 * 3600)] == [
        "1 s", "40 s", "89 s", "2 min", "1 h", "1 h", "1 h 15 min", "10 h", "15 h"]


def test_the_estimate_is_the_probed_cost_per_image_times_the_runs_steps(tiny_config, monkeypatch):
    monkeypatch.setattr(estimate_module, "probe_throughput", lambda config, runtime, cancelled: Throughput(0.1, 0.05))
    config = tiny_config.replace(epochs=3)  # 24 synthetic images: 20 train, 2 val; batch 4: 5 full steps
    assert split_sizes(config) == (20, 2)
    found = estimate_duration(config)  # the set is not generated yet: no decode or augmentation cost to measure
    assert (found.epochs, found.train_images, found.val_images, found.source) == (3, 20, 2, "probe")
    checkpoints = estimate_module._checkpoint_bytes(config) / estimate_module.CHECKPOINT_BYTES_PER_S
    epoch_s = 20 * 0.1 + 2 * 0.05 + estimate_module.EPOCH_OVERHEAD_S + checkpoints
    assert found.epoch_s == pytest.approx(epoch_s)
    assert found.seconds == pytest.approx(estimate_module.RUN_OVERHEAD_S + 3 * epoch_s)
    assert found.describe() == "about 7 s on this CPU (3 epochs of about 2 s)"
    quick = DurationEstimate(epochs=1, epoch_s=0.4, seconds=3.0, prepare_s=0.0, train_images=20, val_images=2,
                             device="this CPU", source="probe")
    assert quick.describe() == "about 3 s on this CPU (1 epoch of under a second)"  # not "1 epochs of about 1 s"
    budgeted = estimate_duration(config.replace(time_budget=0.5))
    assert budgeted.epochs == round(30 / epoch_s) and budgeted.describe().startswith("about 30 s on this CPU (the")


def test_a_finished_run_records_its_throughput_and_the_next_estimate_of_its_settings_uses_it(tiny_config,
                                                                                             monkeypatch):
    assert estimate_duration(tiny_config, probe=False) is None  # nothing recorded, no probe asked for
    first = estimate_duration(tiny_config)
    assert first.source == "probe" and first.epoch_s > 0
    assert not (cache_root() / "throughput.json").exists()  # a probe is kept for this process only
    train(tiny_config.replace(epochs=3), new_run(tiny_config))
    records = json.loads((cache_root() / "throughput.json").read_text())
    (key,) = records
    assert "|unet|8|32|4|1|bce|" in key and records[key]["train_s"] > 0 and records[key]["eval_s"] > 0

    def no_probe(config, runtime, cancelled):
        raise AssertionError("probed")

    monkeypatch.setattr(estimate_module, "probe_throughput", no_probe)
    monkeypatch.setattr(estimate_module, "_PROBED", {})
    again = estimate_duration(tiny_config.replace(epochs=7))
    assert again.source == "recorded"
    assert again.epoch_s == pytest.approx(20 * records[key]["train_s"] + 2 * records[key]["eval_s"]
                                          + estimate_module.EPOCH_OVERHEAD_S + estimate_module._checkpoint_bytes(
                                              tiny_config) / estimate_module.CHECKPOINT_BYTES_PER_S, rel=1e-6)
    with pytest.raises(AssertionError, match="probed"):
        estimate_duration(tiny_config.replace(width=12))  # another model shape: nothing recorded for it


def test_a_folder_runs_estimate_counts_its_splits_and_its_decoding(tiny_config, monkeypatch):
    from tests.tui.helpers import OXFORD_TINY

    monkeypatch.setattr(estimate_module, "probe_throughput", lambda config, runtime, cancelled: Throughput(0.1, 0.05))
    found = estimate_duration(tiny_config.replace(data=str(OXFORD_TINY)))
    train, val = split_sizes(tiny_config.replace(data=str(OXFORD_TINY)))
    assert (found.train_images, found.val_images) == (train, val) and train > 0 and val > 0
    # decoding every photo once (measured on a few of them) on top of the run's fixed costs
    assert found.prepare_s > estimate_module.RUN_OVERHEAD_S
    assert isinstance(found, DurationEstimate)
