"""`seglab serve`: the dashboard in a browser. A real server in a subprocess serves the page and, over the page's
websocket, the runs screen; Ctrl-C ends the server and the dashboard it started. Remote addresses need consent."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import typer

from core.runs.folders import runs_root
from tests.tui.test_cli import seglab, the_error_line

from .test_snapshots import finished_run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_mentioning(text: str) -> list[int]:
    """Pids of this machine's processes whose command line holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


async def first_screen(port: int, timeout: float = 60) -> tuple[int, str, str]:
    """The page's status and HTML, and what the websocket streamed until the runs screen's title appeared."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/") as response:
            status, page = response.status, await response.text()
        streamed = ""
        async with session.ws_connect(f"ws://127.0.0.1:{port}/ws?width=100&height=30") as websocket:
            deadline = time.monotonic() + timeout
            while "runs in" not in streamed and time.monotonic() < deadline:
                message = await websocket.receive(timeout=max(deadline - time.monotonic(), 0.1))
                if message.type == aiohttp.WSMsgType.TEXT:
                    streamed += message.data
                elif message.type == aiohttp.WSMsgType.BINARY:
                    streamed += message.data.decode("utf-8", errors="replace")
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
    return status, page, streamed


def test_serve_streams_the_runs_screen_and_ctrl_c_ends_server_and_dashboard():
    root = runs_root().resolve()
    finished_run(root)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--port", str(port), "--runs-dir",
                               str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, server)
        status, page, streamed = asyncio.run(first_screen(port))
        assert status == 200 and f"ws://localhost:{port}/ws" in page
        assert "runs in" in streamed and "1 run ·" in streamed, streamed[-2000:]
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while processes_mentioning(f"--runs-dir {root}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(f"--runs-dir {root}") == []  # the dashboard the websocket started is gone too


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "not a host"])
def test_a_remote_address_without_allow_remote_is_one_line(capsys, host):
    code, _, err = seglab(capsys, "serve", "--host", host, "--port", "8765")
    assert code == 2
    assert the_error_line(err) == (f"seglab: error: --host {host} lets other machines reach the dashboard, which has "
                                   "no login; use an SSH tunnel (ssh -L 8765:localhost:8765 HOST) or add "
                                   "--allow-remote")  # the tunnel to the port asked for


@pytest.mark.parametrize(("host", "bound"), [("127.0.0.2", "127.0.0.2"), ("[::1]", "::1"), ("::1", "::1"),
                                             ("localhost", "localhost"), ("LOCALHOST", "LOCALHOST")])
def test_every_loopback_address_is_this_machine_only(capsys, monkeypatch, host, bound):
    """127.0.0.2 and [::1] were refused as addresses other machines reach."""
    import tui.cli.serve_command

    asked = []

    def stop_here(host, port):
        asked.append(host)
        raise typer.Exit(3)

    monkeypatch.setattr(tui.cli.serve_command, "refuse_a_taken_port", stop_here)  # the next check: no server
    code, _, err = seglab(capsys, "serve", "--host", host)
    assert code == 3 and asked == [bound] and err == ""


@pytest.mark.parametrize(("host", "shown"), [("127.0.0.1", "localhost"), ("::1", "localhost"),
                                             ("127.0.0.2", "127.0.0.2"), ("2001:db8::1", "[2001:db8::1]"),
                                             ("192.168.1.20", "192.168.1.20")])
def test_the_address_given_to_browsers_reaches_the_server(host, shown):
    """127.0.0.2 was given to browsers as localhost (127.0.0.1: refused); an IPv6 address lacked its brackets."""
    from tui.cli.serve_command import browser_host

    assert browser_host(host) == shown


def test_a_port_already_taken_is_one_line_before_any_address_is_printed(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = seglab(capsys, "serve", "--port", str(port))
    assert code == 2 and out == ""
    assert the_error_line(err) == (f"seglab: error: cannot listen on 127.0.0.1:{port} (Address already in use); "
                                   "another seglab serve? choose another with --port")


def test_an_address_not_of_this_machine_is_named_not_the_port(capsys):
    code, out, err = seglab(capsys, "serve", "--host", "192.0.2.1", "--allow-remote", "--port", "18802")  # TEST-NET-1
    assert code == 2 and out == ""
    assert the_error_line(err) == ("seglab: error: --host 192.0.2.1: not an address of this machine (Cannot assign "
                                   "requested address); give one of its own, or 0.0.0.0 for all of them")


def test_export_size_beyond_any_model_input_is_one_line(capsys):
    code, _, err = seglab(capsys, "export", "nothing", "--size", "100000")
    assert code == 2 and "'--size': Input should be less than or equal to 4096" in the_error_line(err)
