"""What watches a run from beside it: notifications when it finishes, is stopped or fails, and the stall watchdog
(a loop blocked while its process lives is marked stalled, notifies once, and runs again when it moves)."""

from __future__ import annotations

import threading
import time

import pytest

import core.training.loops
import core.training.setup
from core.runs.events import StatusEvent, read_events
from core.runs.folders import create_run, runs_root
from core.training.engine import train
from core.training.loops import TrainingDiverged
from tests.core.notify_server import NotifyServer
from tests.core.test_engine import loss_that_turns_nan_on_call, stop_after


def new_run(config):
    return create_run(config, runs_root())


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_notify_url_hears_a_finish_a_stop_and_a_failure(tiny_config, monkeypatch):
    with NotifyServer() as server:
        config = tiny_config.replace(notify=server.url)
        finished = new_run(config)
        train(config, finished)  # returns once the notification went out
        stop = threading.Event()
        stopped = new_run(config)
        train(config, stopped, stop=stop, on_event=stop_after(stop, lambda e: getattr(e, "epoch", 0) == 1 and
                                                              e.type == "epoch"))
        monkeypatch.setattr(core.training.setup, "build_loss", loss_that_turns_nan_on_call(9))
        failed = new_run(config)
        with pytest.raises(TrainingDiverged):
            train(config, failed)
    assert server.states() == ["finished", "stopped", "failed"]
    first = server.received[0]
    assert first["run"] == finished.path.name and first["folder"] == str(finished.path)
    assert first["epoch"] == first["epochs"] == 2 and first["best_dice"] == finished.read_status().best_dice
    assert first["elapsed_s"] > 0 and first["host"]
    assert server.received[1]["message"] == "stopped after epoch 1"
    assert "epoch 2, step 3/5" in server.received[2]["message"]


def test_a_resumed_run_counts_the_training_time_of_every_session_not_the_days_stopped_between(tiny_config):
    """elapsed (the notification's, the dashboard's) went on from the last resume only."""
    with NotifyServer() as server:
        config = tiny_config.replace(notify=server.url, epochs=3)
        run, stop = new_run(config), threading.Event()
        train(config, run, stop=stop, on_event=stop_after(stop, lambda e: e.type == "epoch" and e.epoch == 1))
        first = run.read_status()
        # as if the first session had trained 100 s and the run then stayed stopped for a day
        run.update_status(started=first.finished - 100.0 - 86400.0, finished=first.finished - 86400.0)
        train(config, run, resume=True)
    status = run.read_status()
    assert status.earlier_s == pytest.approx(100.0)
    assert status.elapsed_s(time.time()) == pytest.approx(100.0 + status.finished - status.started)
    finished = server.received[-1]
    assert finished["state"] == "finished"
    assert 100.0 < finished["elapsed_s"] < 100.0 + 60.0


def test_a_killed_sessions_downtime_is_not_training_time(tiny_config):
    """A session killed (no 'finished' time) ended at its last write: the resuming process's own first status
    write was taken for it, so two hours of downtime counted as training."""
    import os

    config, stop = tiny_config.replace(epochs=3), threading.Event()
    run = new_run(config)
    train(config, run, stop=stop, on_event=stop_after(stop, lambda e: e.type == "epoch" and e.epoch == 1))
    now = time.time()
    killed_at = now - 7200.0
    run.update_status(state="running", pid=999_999_999, finished=None, started=killed_at - 60.0)
    status = run.status_path.read_text().replace(f'"updated": {run.read_status().updated}',
                                                 f'"updated": {killed_at}')
    run.status_path.write_text(status)
    for path in (run.events_path, run.progress_path):
        if path.exists():
            os.utime(path, (killed_at, killed_at))
    train(config, run, resume=True)
    assert run.read_status().earlier_s == pytest.approx(60.0, abs=1.0)


def test_a_default_url_in_settings_json_is_used_when_the_run_names_none(tiny_config, isolated_seglab_dirs):
    with NotifyServer() as server:
        (isolated_seglab_dirs / "config").mkdir()
        (isolated_seglab_dirs / "config" / "settings.json").write_text(f'{{"notify": "{server.url}"}}')
        train(tiny_config, new_run(tiny_config))
    assert server.states() == ["finished"]


def test_notify_none_turns_the_settings_default_off_for_one_run(tiny_config, isolated_seglab_dirs):
    with NotifyServer() as server:
        (isolated_seglab_dirs / "config").mkdir()
        (isolated_seglab_dirs / "config" / "settings.json").write_text(f'{{"notify": "{server.url}"}}')
        train(tiny_config.replace(notify="none"), new_run(tiny_config))
    assert server.states() == []


def warnings_of(run) -> list[str]:
    return [event.message for event in read_events(run.events_path) if event.type == "warning"]


def test_a_damaged_settings_json_or_a_default_url_without_a_scheme_is_said_not_lost(tiny_config,
                                                                                     isolated_seglab_dirs):
    """A broken settings.json quietly dropped its notify default; a default of ntfy.sh/TOPIC was tried three times
    and its warning showed the secret topic."""
    settings = isolated_seglab_dirs / "config" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"notify": "https://ntfy.sh/x",}')  # a trailing comma
    run = new_run(tiny_config)
    train(tiny_config, run)
    (warning,) = warnings_of(run)
    assert warning.startswith(f"{settings}: not valid JSON (") and warning.endswith("its defaults (notify...) are "
                                                                                    "not used")
    settings.write_text('{"notify": "ntfy.sh/secret-topic"}')
    run = new_run(tiny_config.replace(name="again"))
    train(tiny_config.replace(name="again"), run)
    assert warnings_of(run) == ["settings.json's notify ntfy.sh/... is not an http:// or https:// URL: not used"]
    assert "secret-topic" not in run.events_path.read_text()


def test_a_blocked_loop_is_stalled_notifies_once_and_runs_again_when_it_moves(tiny_config, monkeypatch, tmp_path):
    release = tmp_path / "release"
    monkeypatch.setattr(core.training.loops, "PROGRESS_INTERVAL_S", 0)  # every step is progress
    monkeypatch.setenv("SEGLAB_PAUSE_AT", "train-step")
    monkeypatch.setenv("SEGLAB_PAUSE_SKIP", "7")  # step 3 of epoch 2 hangs, as a stuck data loader would
    monkeypatch.setenv("SEGLAB_PAUSE_RELEASE", str(release))
    with NotifyServer() as server:
        config = tiny_config.replace(stall_minutes=0.03, notify=server.url)  # 1.8 s without progress
        run = new_run(config)
        training = threading.Thread(target=train, args=(config, run))
        training.start()
        wait_for(lambda: run.read_status().state == "stalled")
        assert run.state() == "stalled" and "no progress for" in run.read_status().message
        wait_for(lambda: server.received)
        time.sleep(2.5)  # more than the limit again: still one notification
        release.touch()
        training.join(60)
    assert server.states() == ["stalled", "finished"]
    states = [(event.state, event.message) for event in read_events(run.events_path) if isinstance(event, StatusEvent)]
    stalled_at = [state for state, _ in states].index("stalled")
    assert states[stalled_at + 1][0] == "running" and states[stalled_at + 1][1].startswith("moving again after")
    assert states[-1][0] == "finished" and run.read_status().state == "finished"
    assert run.read_status().stall_after_s >= 1.8


def test_no_watchdog_with_stall_minutes_zero(tiny_config):
    config = tiny_config.replace(stall_minutes=0)
    run = new_run(config)
    train(config, run)
    assert run.read_status().stall_after_s is None


def test_readers_get_a_stall_limit_from_the_first_step_on(tiny_config):
    """Setting up (generating data, filling a cache) has no pace yet: status.json has no limit until a step."""
    from core.runs.events import ProgressEvent
    from core.training.run_watchers import RunWatchers

    run = new_run(tiny_config)
    run.update_status(stall_after_s=123.0)  # left by an earlier process of the run
    watchers = RunWatchers(tiny_config.replace(stall_minutes=2), run, runs_root(), lambda event: None)
    try:
        assert run.read_status().stall_after_s is None
        watchers.observe(StatusEvent(state="running", message="started epoch 1/2"))
        assert run.read_status().stall_after_s is None
        watchers.observe(ProgressEvent(epoch=1, step=1, steps=5, loss=0.5, images_per_s=10.0))
        assert run.read_status().stall_after_s == 120.0
    finally:
        watchers.close()
