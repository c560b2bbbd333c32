"""--time-budget (core/training/time_budget.py and the engine): the epoch arithmetic on made-up epoch times,
and a real tiny run on a fake clock whose epochs "take" fixed seconds."""

from __future__ import annotations

import json
import math
import threading
from itertools import count

import pytest

from core.runs.events import EpochEvent, ProgressEvent, StatusEvent, read_events
from core.training import engine, loops
from core.training.engine import train
from core.training.time_budget import plan_epochs

from .helpers import new_run


def simulate(budget_minutes: float, epoch_times: list[float], first_filled_cache: bool = False) -> tuple[int, float]:
    """Run the engine's decision loop on given epoch durations: (epochs run, seconds from the first start)."""
    elapsed, planned, finished = 0.0, None, []
    while planned is None or len(finished) < planned:
        seconds = epoch_times[min(len(finished), len(epoch_times) - 1)]
        elapsed += seconds
        finished.append(seconds)
        planned = plan_epochs(budget_minutes, finished, elapsed, first_filled_cache, current=planned).epochs
    return len(finished), elapsed


def test_steady_ten_second_epochs_fill_three_minutes_with_eighteen():
    plan = plan_epochs(3, [10.0], 10.0)
    assert (plan.epochs, plan.finished, plan.epoch_s) == (18, 1, 10.0)
    assert plan.as_record() == {"budget_min": 3.0, "epochs": 18, "epoch_s": 10.0, "decided_after_s": 10.0,
                                "expected_end_s": 180.0}
    assert simulate(3, [10.0]) == (18, 180.0)


def test_the_total_rounds_to_the_nearest_epoch_and_never_drops_below_the_finished_ones():
    assert plan_epochs(1, [25.0], 25.0).epochs == 2  # 35 s left = 1.4 epochs -> 1 more
    assert plan_epochs(1, [25.0, 25.0], 50.0).epochs == 2  # 10 s left = 0.4 -> none
    assert plan_epochs(1, [90.0], 90.0).epochs == 1  # the first epoch alone overran: stop after it
    assert plan_epochs(1, [10.0], 20.0, finished=2).epochs == 2 + 4  # an untimed epoch before the timed one


def test_a_plan_stops_at_the_most_epochs_a_config_may_hold():
    """--time-budget 5000 at 0.08 s epochs planned 3,990,036 epochs: the config refused it and the run failed."""
    from core.config import TrainConfig

    plan = plan_epochs(5000, [0.075], 0.075)
    assert plan.epochs == 1_000_000
    TrainConfig(epochs=plan.epochs)  # a count the run's config takes


def test_slower_epochs_cut_the_plan_and_the_run_ends_within_one_epoch_of_its_budget():
    # planned after 10 s: 6 epochs; then epochs take 20 s, and the plan shrinks
    epochs, elapsed = simulate(1, [10.0, 20.0])
    assert epochs == 4 and elapsed == 70.0
    assert elapsed - 60.0 <= 20.0
    for times in ([10.0], [7.0, 13.0], [30.0, 5.0], [4.0, 6.0, 5.0, 9.0], [61.0]):
        epochs, elapsed = simulate(1, times)
        assert elapsed <= 60.0 + max(times), (times, epochs, elapsed)


def test_a_plan_within_one_epoch_of_the_budget_is_kept_so_noise_does_not_change_the_schedule():
    assert plan_epochs(3, [10.0, 10.6], 20.6, current=18).epochs == 18  # projected 190.6 s: within 10.3 s
    assert plan_epochs(3, [10.0, 13.0], 23.0, current=18).epochs == 2 + 14  # projected 207 s: re-planned


def test_a_first_epoch_that_filled_the_cache_is_left_out_of_the_mean_once_a_second_exists():
    assert plan_epochs(2, [40.0], 40.0, first_filled_cache=True).epoch_s == 40.0  # nothing else to go by yet
    plan = plan_epochs(2, [40.0, 10.0], 50.0, first_filled_cache=True)
    assert plan.epoch_s == 10.0 and plan.epochs == 2 + 7


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        plan_epochs(0, [1.0], 1.0)


def test_a_budgeted_run_plans_its_epochs_after_the_first_and_its_cosine_ends_with_the_last(tiny_config,
                                                                                          monkeypatch):
    ticks = count()
    monkeypatch.setattr(engine, "clock", lambda: 10.0 * next(ticks))  # every epoch "takes" 10 s
    config = tiny_config.replace(epochs=20, time_budget=1.0, scheduler="cosine", warmup_epochs=1, workers=0)
    run = new_run(config)
    summary = train(config, run)

    assert (summary.state, summary.epochs, summary.planned_epochs) == ("finished", 6, 6)  # 60 s / 10 s
    events = read_events(run.events_path)
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert [e.epochs for e in epochs] == [6] * 6
    # the cosine decays over the 5 epochs after the warmup: epoch 6 starts 4/5 of the way down
    assert epochs[-1].lr == pytest.approx(config.lr * 0.5 * (1 + math.cos(math.pi * 4 / 5)))
    messages = [e.message for e in events if isinstance(e, StatusEvent)]
    assert any("of a 1-minute time budget" in m for m in messages)
    assert any(m.startswith("time budget 1 min: epochs take 10.0 s, so 6 epochs") for m in messages)
    recorded = json.loads(run.config_path.read_text())
    assert (recorded["epochs"], recorded["time_budget"]) == (6, 1.0)
    assert recorded["time_budget_plan"] == {"budget_min": 1.0, "epochs": 6, "epoch_s": 10.0,
                                            "decided_after_s": 10.0, "expected_end_s": 60.0}
    assert run.read_status().epochs == 6
    assert run.load_config().epochs == 6  # what a resume continues with


def test_a_budgeted_run_resumed_mid_first_epoch_plans_from_its_next_whole_epoch(tiny_config, monkeypatch):
    monkeypatch.setattr(loops, "PROGRESS_INTERVAL_S", 0)  # a progress event after every step
    config = tiny_config.replace(epochs=20, time_budget=1.0, workers=0)
    run, stop = new_run(config), threading.Event()
    seen = []

    def stop_in_epoch_one(event) -> None:
        seen.append(event)
        if sum(isinstance(e, ProgressEvent) and e.epoch == 1 for e in seen) == 2:
            stop.set()

    assert train(config, run, stop=stop, on_event=stop_in_epoch_one).state == "stopped"
    assert "time_budget_plan" not in json.loads(run.config_path.read_text())  # nothing measured yet

    ticks = count()
    monkeypatch.setattr(engine, "clock", lambda: 10.0 * next(ticks))  # 10 s between the engine's readings
    summary = train(config, run, resume=True)
    # the rest of epoch 1 is no measure; epoch 2 took 10 s and ended 20 s in: 4 more fill the minute
    assert (summary.state, summary.epochs, summary.planned_epochs) == ("finished", 6, 6)
    recorded = json.loads(run.config_path.read_text())
    assert recorded["epochs"] == 6
    assert recorded["time_budget_plan"] == {"budget_min": 1.0, "epochs": 6, "epoch_s": 10.0,
                                            "decided_after_s": 20.0, "expected_end_s": 60.0}


def test_rewriting_a_budgeted_runs_config_without_a_plan_keeps_the_recorded_plan(tmp_path, tiny_config):
    import json

    from core.config import load_config, save_config

    config, path = tiny_config.replace(time_budget=0.2), tmp_path / "config.json"
    plan = {"budget_min": 0.2, "epochs": 46, "epoch_s": 0.26}
    save_config(config, path, time_budget_plan=plan)
    save_config(config, path, runtime={"device": "cpu"})  # what a resumed run writes as it starts
    assert json.loads(path.read_text())["time_budget_plan"] == plan
    assert load_config(path) == config
    save_config(config.replace(time_budget=0.0), path)  # no budget: no plan to keep
    assert "time_budget_plan" not in json.loads(path.read_text())
