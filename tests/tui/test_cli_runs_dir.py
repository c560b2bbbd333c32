"""`seglab --runs-dir DIR COMMAND` uses DIR for every command that reads a runs folder (it once reached only the bare
dashboard, so `runs`, `watch`, `compare`... read ./runs), and is refused, naming the command, where none is read.
$SEGLAB_RUNS_DIR points elsewhere in every test here, so only DIR can give these results."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

import core.training.launch
import tui.cli
from core.errors import SeglabError
from tests.tui.test_cli import seglab, the_error_line
from tests.tui.test_snapshots import FINISHED_RUN, finished_run
from tui.cli import app


@pytest.fixture
def given_dir(tmp_path) -> Path:
    """A runs folder holding one finished run, not the one $SEGLAB_RUNS_DIR names."""
    folder = tmp_path / "elsewhere"
    finished_run(folder)
    return folder


def test_runs_lists_the_given_folder(capsys, given_dir):
    code, out, _ = seglab(capsys, "--runs-dir", str(given_dir), "runs")
    assert code == 0 and FINISHED_RUN in out


def test_runs_disk_lists_the_given_folders_runs_with_their_sizes(capsys, given_dir):
    code, out, _ = seglab(capsys, "--runs-dir", str(given_dir), "runs", "--disk")
    assert code == 0 and FINISHED_RUN in out and f"1 run in {given_dir}: " in out


def test_watch_finds_the_run_in_the_given_folder(capsys, given_dir):
    code, out, err = seglab(capsys, "--runs-dir", str(given_dir), "watch", FINISHED_RUN[:15])
    assert code == 0, err
    assert "finished" in out


@pytest.mark.parametrize("command", [
    ["evaluate", "no-such-run"],
    ["predict", "no-such-run"],
    ["export", "no-such-run"],
    ["compare", "no-such-run", FINISHED_RUN],
    ["train", "--resume", "no-such-run"],
    ["clean", "no-such-run", "--dry-run"],
], ids=lambda command: command[0])
def test_a_run_is_looked_up_in_the_given_folder(capsys, given_dir, command):
    code, _, err = seglab(capsys, "--runs-dir", str(given_dir), *command)
    assert code == 2
    assert the_error_line(err).endswith(f"no-such-run: no run folder, run name starting with it or run named so in "
                                        f"{given_dir}")


@pytest.mark.parametrize("how", ["name", "prefix", "path"])
def test_a_listed_run_that_lost_its_config_json_is_named_as_damaged(capsys, given_dir, how):
    """`seglab runs` lists such a folder (by its status.json); naming it said there was no such run."""
    folder = given_dir / FINISHED_RUN
    (folder / "config.json").unlink()
    ref = {"name": FINISHED_RUN, "prefix": FINISHED_RUN[:11], "path": str(folder)}[how]
    code, _, err = seglab(capsys, "--runs-dir", str(given_dir), "evaluate", ref)
    assert code == 2 and the_error_line(err) == (f"seglab: error: {folder / 'config.json'}: missing; this run folder "
                                                 "lost its settings (a damaged copy?)")


def test_a_sweep_is_looked_up_in_the_given_folder(capsys, given_dir):
    code, _, err = seglab(capsys, "--runs-dir", str(given_dir), "sweep", "show", "pets")
    assert code == 2 and the_error_line(err).startswith(f"seglab: error: no sweep 'pets' in {given_dir} ")


def test_demo_trains_into_the_given_folder(capsys, monkeypatch, given_dir):
    def refuse(config, root, run_dir=None):
        raise SeglabError(f"would train {config.name} in {root}")

    monkeypatch.setattr(core.training.launch, "prepare_run", refuse)
    code, _, err = seglab(capsys, "--runs-dir", str(given_dir), "demo")
    assert code == 2 and the_error_line(err) == f"seglab: error: would train demo in {given_dir}"


def test_tui_opens_the_dashboard_on_the_given_folder(capsys, monkeypatch, given_dir):
    opened = []
    monkeypatch.setattr(tui.cli, "run_dashboard", lambda runs_dir, start_demo=False: opened.append(runs_dir))
    assert seglab(capsys, "--runs-dir", str(given_dir), "tui")[0] == 0
    assert opened == [given_dir]


def test_serve_serves_the_given_folder(capsys, monkeypatch, given_dir):
    import textual_serve.server

    served = []

    class Server:
        def __init__(self, command, **options):
            served.append(command)

        def serve(self):
            pass

    monkeypatch.setattr(textual_serve.server, "Server", Server)
    assert seglab(capsys, "--runs-dir", str(given_dir), "serve")[0] == 0
    assert served and served[0].endswith(f"tui --runs-dir {given_dir}")


def test_a_commands_own_runs_dir_wins(capsys, given_dir, tmp_path):
    code, out, _ = seglab(capsys, "--runs-dir", str(given_dir), "runs", "--runs-dir", str(tmp_path / "empty"))
    assert code == 0 and FINISHED_RUN not in out and "no runs in" in out


@pytest.mark.parametrize("command", [["models"], ["data", "synth", "--count", "3"]], ids=lambda c: c[0])
def test_commands_that_read_no_runs_folder_refuse_it(capsys, given_dir, tmp_path, command):
    code, _, err = seglab(capsys, "--runs-dir", str(given_dir), *command, *(["--out", str(tmp_path / "s")]
                                                                           if command[0] == "data" else []))
    assert code == 2
    assert the_error_line(err) == (f"seglab: error: --runs-dir: `seglab {command[0]}` reads no runs folder; leave "
                                   "--runs-dir out")
    assert not (tmp_path / "s").exists()


def test_every_command_with_a_runs_folder_is_tested_here():
    """A new command that reads a runs folder gets a test above."""
    tested = {"runs", "watch", "evaluate", "predict", "export", "compare", "train", "demo", "tui", "serve", "sweep",
              "clean"}
    commands = typer.main.get_command(app).commands
    reading = {name for name, command in commands.items() if tui.cli.takes_runs_dir(command)}
    assert reading == tested


@pytest.mark.parametrize("command", [["runs"], ["runs", "--disk"], ["clean", "--dry-run"]], ids=" ".join)
def test_a_runs_dir_that_is_a_file_is_one_line_not_an_empty_list(capsys, tmp_path, command):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    code, out, err = seglab(capsys, "--runs-dir", str(notes), *command)
    assert code == 2 and the_error_line(err) == f"seglab: error: {notes}: is a file, not a runs folder"
