"""`seglab train --print-config`, `--config FILE` and `--from RUN`: settings kept in files and forked from runs
give the very config.json a run made from options would."""

from __future__ import annotations

import json

import pytest

from core.runs.folders import list_runs, runs_root
from tests.tui.test_cli import seglab, the_error_line
from tests.tui.test_cli_recipe import TINY, saved_config


def test_print_config_then_config_trains_the_same_settings(capsys, tmp_path):
    code, printed, err = seglab(capsys, "train", *TINY, "--width", "8", "--lr", "3e-3", "--augment", "flip",
                                "--name", "first", "--print-config")
    assert code == 0, err
    assert list_runs(runs_root()) == []  # printing makes no run
    (tmp_path / "settings.yaml").write_text(printed)
    options = ["--width", "8", "--lr", "3e-3", "--augment", "flip"]
    assert seglab(capsys, "train", *TINY, *options, "--name", "first")[0] == 0
    assert seglab(capsys, "train", "--config", str(tmp_path / "settings.yaml"), "--name", "second")[0] == 0
    first, second = sorted(list_runs(runs_root()), key=lambda run: run.load_config().name)
    assert {**saved_config(first), "name": "second"} == saved_config(second)


def test_options_given_beside_a_config_file_win(capsys, tmp_path):
    (tmp_path / "pets.json").write_text(json.dumps({"lr": 0.002, "width": 16, "augment": "flip"}))
    code, printed, err = seglab(capsys, "train", *TINY, "--config", str(tmp_path / "pets.json"), "--width", "8",
                                "--print-config")
    assert code == 0, err
    assert "\nlr: 0.002  #" in printed and "\nwidth: 8  #" in printed and "\naugment: flip  #" in printed


def test_from_run_forks_its_settings_with_only_the_given_changes(capsys):
    assert seglab(capsys, "train", *TINY, "--width", "8", "--augment", "flip", "--name", "parent")[0] == 0
    code, _, err = seglab(capsys, "train", "--from", "parent", "--lr", "1e-4")
    assert code == 0, err
    parent, fork = sorted(list_runs(runs_root()), key=lambda run: run.load_config().name, reverse=True)
    assert fork.path != parent.path and not (fork.path / "checkpoints" / "last.pt").samefile(
        parent.path / "checkpoints" / "last.pt")
    assert saved_config(fork) == {**saved_config(parent), "lr": 1e-4, "name": ""}
    assert saved_config(fork)["init_from"] == ""  # a fork starts from fresh weights unless told otherwise


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "nowhere.yaml"], "seglab: error: nowhere.yaml: no such config file"),
    (["--from", "nosuchrun"], "seglab: error: nosuchrun: no run folder"),
    (["--resume", "x", "--config", "a.yaml"], "seglab: error: --config makes a new run's settings; --resume and "
                                               "--run-dir train saved ones"),
])
def test_bad_files_and_runs_are_one_line_and_make_no_run(capsys, args, message):
    code, _, err = seglab(capsys, "train", *args)
    assert code == 2 and the_error_line(err).startswith(message)
    assert list_runs(runs_root()) == []
