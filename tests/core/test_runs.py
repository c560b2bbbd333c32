"""Run folders: unique names, refused names, status.json merges, shown state, finding runs by prefix."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import core.runs.folders
from core.errors import ConfigError, SeglabError
from core.runs.folders import create_run, list_runs, open_run, runs_root


def freeze_clock(monkeypatch, *moments: datetime) -> None:
    """Make create_run see the given wall-clock times, one per call (the last one repeats)."""
    remaining = list(moments)

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    monkeypatch.setattr(core.runs.folders, "datetime", FrozenDatetime)


MOMENT = datetime(2026, 11, 28, 14, 25, 1)


def test_runs_started_in_the_same_second_get_their_own_folders_and_configs(tiny_config, tmp_path, monkeypatch):
    freeze_clock(monkeypatch, MOMENT)
    first, second = create_run(tiny_config, tmp_path), create_run(tiny_config, tmp_path)
    assert first.name == "20261128-142501-unet-tiny"
    assert second.name == "20261128-142501-unet-tiny-2"
    assert first.load_config() == tiny_config
    assert second.load_config() == tiny_config
    assert first.read_status().state == second.read_status().state == "created"


def test_run_folder_name_is_timestamp_model_and_name(tiny_config, tmp_path):
    run = create_run(tiny_config.replace(name="my-exp"), tmp_path)
    assert re.fullmatch(r"\d{8}-\d{6}-unet-my-exp", run.name)
    assert run.path.parent == tmp_path
    assert run.checkpoints_dir.is_dir()


def test_quick_runs_do_not_clash_without_a_frozen_clock(tiny_config, tmp_path):
    runs = [create_run(tiny_config, tmp_path) for _ in range(3)]
    assert len({run.path for run in runs}) == 3
    assert all(run.load_config() == tiny_config for run in runs)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a/b", "'/'"),
        ("..", "'..'"),
        ("x..y", "'..'"),
        ("back\\slash", "'\\'"),
        ("\x1b[31mred", "control characters"),
        ("two\nlines", "control characters"),
        ("", None),  # no name is fine: the folder is named after the data
    ],
)
def test_run_names_that_could_escape_the_folder_or_garble_a_terminal_are_refused(
    tiny_config, tmp_path, name, problem
):
    if problem is None:
        assert create_run(tiny_config.replace(name=name), tmp_path).name.endswith("-unet-synthetic")
        return
    with pytest.raises(ConfigError, match=re.escape(problem)) as error:
        create_run(tiny_config.replace(name=name), tmp_path)
    assert "run name" in str(error.value)
    assert "\n" not in str(error.value) and "\x1b" not in str(error.value)  # shown escaped, on one line
    assert list(tmp_path.iterdir()) == []


def test_update_status_merges_into_status_json(tiny_config, tmp_path):
    run = create_run(tiny_config, tmp_path)
    run.update_status(state="running", epoch=1)
    status = run.update_status(best_dice=0.5)
    on_disk = json.loads(run.status_path.read_text())
    assert on_disk == status.to_dict()
    assert on_disk["state"] == "running" and on_disk["epoch"] == 1 and on_disk["best_dice"] == 0.5
    assert on_disk["model"] == "unet" and on_disk["epochs"] == tiny_config.epochs  # kept from create_run


def test_a_status_file_with_keys_from_a_newer_version_still_reads(tiny_config, tmp_path):
    run = create_run(tiny_config, tmp_path)
    values = {**json.loads(run.status_path.read_text()), "state": "running", "gpu_temperature": 71}
    run.status_path.write_text(json.dumps(values))
    status = run.read_status()
    assert status.state == "running" and status.model == "unet" and not hasattr(status, "gpu_temperature")


def test_an_unknown_status_field_is_refused_when_written(tiny_config, tmp_path):
    run = create_run(tiny_config, tmp_path)
    with pytest.raises(TypeError):
        run.update_status(stat="running")  # a typo cannot slip into status.json


def test_a_failed_status_write_leaves_the_old_status_and_no_temp_file(tiny_config, tmp_path, monkeypatch):
    run = create_run(tiny_config, tmp_path)
    run.update_status(state="running", epoch=1)
    before = run.status_path.read_bytes()

    def fail_replace(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="disk full"):
        patch.setattr(core.runs.folders.os, "replace", fail_replace)
        run.update_status(state="finished", epoch=2)
    assert run.status_path.read_bytes() == before
    assert sorted(p.name for p in run.path.iterdir()) == ["checkpoints", "config.json", "status.json"]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_state_shows_interrupted_when_the_running_process_is_gone(tiny_config, tmp_path):
    run = create_run(tiny_config, tmp_path)
    run.update_status(state="running", pid=dead_pid(), host=socket.gethostname())
    assert run.state() == "interrupted"
    assert run.read_status().state == "running"  # showing it does not rewrite the file


def test_state_shows_running_for_a_live_process_or_one_on_another_host(tiny_config, tmp_path):
    run = create_run(tiny_config, tmp_path)
    run.update_status(state="running", pid=os.getpid(), host=socket.gethostname())
    assert run.state() == "running"
    run.update_status(state="running", pid=dead_pid(), host="some-other-machine")
    assert run.state() == "running"  # its pid means nothing here


def test_state_of_finished_runs_is_kept_even_when_their_process_is_gone(tiny_config, tmp_path):
    run = create_run(tiny_config, tmp_path)
    run.update_status(state="finished", pid=dead_pid(), host=socket.gethostname())
    assert run.state() == "finished"


@pytest.fixture
def three_runs(tiny_config, tmp_path, monkeypatch):
    """Two runs named alike in the same second, and one a second later."""
    freeze_clock(monkeypatch, MOMENT, MOMENT, datetime(2026, 11, 28, 14, 25, 2))
    return [create_run(tiny_config, tmp_path), create_run(tiny_config, tmp_path),
            create_run(tiny_config.replace(name="other"), tmp_path)]


def test_open_run_by_path_exact_name_or_unique_prefix(three_runs, tmp_path):
    first, second, third = three_runs
    assert open_run(str(second.path), tmp_path / "elsewhere") == second
    assert open_run(first.name, tmp_path) == first  # though it is also a prefix of the second's name
    assert open_run("20261128-142502", tmp_path) == third
    assert open_run("20261128-142501-unet-tiny-", tmp_path) == second


def test_open_run_by_the_name_it_was_given_when_no_folder_name_starts_with_it(three_runs, tmp_path):
    first, second, third = three_runs
    assert open_run("other", tmp_path) == third
    with pytest.raises(SeglabError, match=r"tiny: matches 2 runs"):  # two runs were named tiny
        open_run("tiny", tmp_path)
    mine = create_run(three_runs[0].load_config().replace(name="my-other"), tmp_path)
    assert open_run("other", tmp_path) == third  # not my-other: a name is the whole part after the model
    assert open_run("my-other", tmp_path) == mine


def test_ambiguous_prefix_error_lists_the_matching_runs(three_runs, tmp_path):
    first, second, third = three_runs
    with pytest.raises(SeglabError) as error:
        open_run("20261128-1425", tmp_path)
    message = str(error.value)
    assert "3 runs" in message
    assert all(run.name in message for run in three_runs)


def test_unknown_run_error_names_the_reference_and_the_runs_folder(three_runs, tmp_path):
    with pytest.raises(SeglabError) as error:
        open_run("20991231", tmp_path)
    assert "20991231" in str(error.value) and str(tmp_path) in str(error.value)


def test_list_runs_is_newest_first_and_skips_folders_without_a_config(tiny_config, tmp_path, monkeypatch):
    freeze_clock(monkeypatch, datetime(2026, 11, 28, 9, 0, 0), datetime(2026, 11, 28, 10, 0, 0))
    older = create_run(tiny_config.replace(name="zzz"), tmp_path)
    newer = create_run(tiny_config.replace(name="aaa"), tmp_path)
    (tmp_path / "not-a-run").mkdir()
    assert list_runs(tmp_path) == [newer, older]
    assert list_runs(tmp_path / "missing") == []


def test_runs_root_prefers_explicit_then_environment_then_local_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_RUNS_DIR", str(tmp_path / "from-env"))
    assert runs_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert runs_root() == tmp_path / "from-env"
    monkeypatch.delenv("SEGLAB_RUNS_DIR")
    assert runs_root() == Path("runs")


def test_a_run_whose_progress_json_moves_is_not_stalled_however_old_its_log(tmp_path):
    """Inside a long epoch only progress.json changes; the reader-side stall check must look at it too."""
    import os
    import socket
    import time
    from dataclasses import replace

    from core.config import TrainConfig
    from core.runs.folders import create_run

    run = create_run(TrainConfig(name="long-epoch"), tmp_path)
    run.update_status(state="running", pid=os.getpid(), host=socket.gethostname(), stall_after_s=60.0)
    run.events_path.write_text("")
    long_ago = time.time() - 600
    os.utime(run.events_path, (long_ago, long_ago))
    old_status = replace(run.read_status(), updated=long_ago)  # as if status.json were as old
    assert run.state(old_status) == "stalled"
    run.progress_path.write_text("{}")
    assert run.state(old_status) == "running"
