"""`--help` reads as written: each paragraph of a command's help is whole (Rich keeps a docstring's line breaks,
which cut sentences where the source line ended, unless main() joins them), and square brackets in help are
shown rather than taken as Rich markup."""

from __future__ import annotations

import inspect

import pytest
import typer

from tests.tui.test_cli import seglab
from tui.cli import app


def every_command(command=None, path: str = "") -> dict[str, object]:
    command = command or typer.main.get_command(app)
    found = {}
    for name, subcommand in getattr(command, "commands", {}).items():
        found[f"{path}{name}"] = subcommand
        found |= every_command(subcommand, f"{path}{name} ")
    return found


COMMANDS = every_command()


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_paragraph_of_a_commands_help_is_shown_whole(capsys, monkeypatch, path):
    monkeypatch.setenv("COLUMNS", "1000")  # wide enough that only a line break in the text could cut a paragraph
    code, out, _ = seglab(capsys, *path.split(), "--help")
    assert code == 0
    lines = [line.strip(" │") for line in out.splitlines()]
    for paragraph in inspect.cleandoc(COMMANDS[path].help).split("\n\n"):
        whole = " ".join(paragraph.replace("\\[", "[").split())
        assert whole in lines, (path, whole)


def test_each_commands_summary_is_one_row_of_the_command_list(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = seglab(capsys, "--help")
    assert code == 0
    for name, command in COMMANDS.items():
        if " " in name:
            continue
        summary = " ".join(inspect.cleandoc(command.help).split("\n\n")[0].replace("\\[", "[").split())
        assert any(line.strip(" │").startswith(name) and line.rstrip(" │").endswith(summary)
                   for line in out.splitlines()), (name, summary)


@pytest.mark.parametrize(("command", "extra"), [("export", "seglab[export]"), ("serve", "seglab[web]")])
def test_an_extras_brackets_survive_rich_markup(capsys, monkeypatch, command, extra):
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = seglab(capsys, command, "--help")
    assert code == 0 and extra in out


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_square_brackets_in_an_options_help_are_shown(capsys, monkeypatch, path):
    """`OPTION: [values]` or `the seglab[postgres] extra` in an option's help: Rich took an unescaped [...] for a
    markup tag and printed nothing of it."""
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = seglab(capsys, *path.split(), "--help")
    assert code == 0
    shown = " ".join(line.strip(" │") for line in out.splitlines())
    for param in COMMANDS[path].params:
        text = getattr(param, "help", None) or ""
        if "[" in text:
            assert " ".join(text.replace("\\[", "[").split()) in shown, (path, param.name, text)


def test_a_new_command_file_registers_itself_and_lists_after_the_ordered_commands(capsys, monkeypatch, tmp_path):
    import sys

    import tui.cli
    from tui.cli.options import HELP_ORDER

    (tmp_path / "hello_command.py").write_text(
        '"""A command only this test has."""\n'
        "from tui.cli.options import app, console\n\n\n"
        '@app.command(name="hello")\n'
        "def hello_command() -> None:\n"
        '    """Say hello (a command file dropped into tui/cli)."""\n'
        '    console.print("hello")\n')
    monkeypatch.setattr(tui.cli, "__path__", [*tui.cli.__path__, str(tmp_path)])
    monkeypatch.setattr(app, "registered_commands", list(app.registered_commands))  # restored after the test
    monkeypatch.delitem(sys.modules, "tui.cli.hello_command", raising=False)
    try:
        assert "hello_command" in tui.cli.register_commands()
        assert seglab(capsys, "hello")[:2] == (0, "hello\n")
        code, out, _ = seglab(capsys, "--help")
        listed = [line.strip(" │").split()[0] for line in out.splitlines()
                  if line.startswith("│ ") and line.strip(" │").split()[0] in (*HELP_ORDER, "hello")]
        assert listed == [*HELP_ORDER, "hello"]
    finally:
        sys.modules.pop("tui.cli.hello_command", None)
