"""`seglab serve`: the dashboard in a browser through textual-serve (the `seglab[web]` extra). It binds to this
machine only unless --allow-remote: textual-serve has no login, so whoever reaches the port drives the dashboard."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer

from core.runs.folders import runs_root
from tui.cli.options import RunsDir, app, err_console, fail


@app.command(name="serve", epilog="Examples:\n\n  seglab serve\n\n  seglab serve --port 8080 --runs-dir /data/runs\n\n"
             "  # from your laptop: ssh -L 8000:localhost:8000 gpu-box, then open http://localhost:8000")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (this machine only by default).")] =
    "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Listen on an address other machines can reach. There is no login: anyone who "
                               "reaches the port controls the dashboard and the runs.")] = False,
    public_url: Annotated[str | None, typer.Option(
        "--public-url", help="The address browsers use, when it is not http://localhost:PORT (a tunnel to another "
                             "local port, a proxy).")] = None,
    runs_dir: RunsDir = None,
) -> None:
    r"""Serve the dashboard to a browser (textual-serve, the seglab\[web] extra).

    Every browser tab gets its own dashboard over the same runs folder. Ctrl-C stops the server; runs started from
    a browser keep training, as from the terminal."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address as a URL writes it
    local = is_loopback(host)
    if not local and not allow_remote:
        raise fail(f"--host {host} lets other machines reach the dashboard, which has no login; use an SSH tunnel "
                   f"(ssh -L {port}:localhost:{port} HOST) or add --allow-remote")
    try:
        from textual_serve.server import Server
    except ImportError:
        raise fail("seglab serve needs the web extra: pip install 'seglab[web]'") from None
    refuse_a_taken_port(host, port)
    if not local:
        err_console.print(f"seglab: warning: serving on {host}:{port} with no login: anyone who can reach this port "
                          "controls the dashboard and the runs", markup=False)
    root = runs_root(runs_dir).resolve()
    command = shlex.join([sys.executable, "-m", "tui.cli", "tui", "--runs-dir", str(root)])
    public = public_url or f"http://{browser_host(host)}:{port}"
    Server(command, host=host, port=port, title="seglab", public_url=public).serve()


def browser_host(host: str) -> str:
    """The address a browser uses for the server on `host`: localhost for the usual loopback, the address itself
    otherwise (127.0.0.2 is not what localhost resolves to), an IPv6 one in brackets as URLs write it."""
    if host.lower() in ("127.0.0.1", "localhost", "::1"):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine's loopback only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_a_taken_port(host: str, port: int) -> None:
    """One line before the server prints its address, where textual-serve would fail after it with a traceback."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        raise fail(f"--host {host}: {error.strerror or error}") from None
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is free
        try:
            probe.bind(address)
        except OSError as error:
            import errno

            if error.errno == errno.EADDRNOTAVAIL:  # not an address of this machine: another port will not help
                raise fail(f"--host {host}: not an address of this machine ({error.strerror}); give one of its own, "
                           "or 0.0.0.0 for all of them") from None
            raise fail(f"cannot listen on {host}:{port} ({error.strerror or error}); another seglab serve? choose "
                       "another with --port") from None
