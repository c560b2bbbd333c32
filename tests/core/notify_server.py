"""A local HTTP server for notification tests: records every JSON POSTed to it, can answer with errors first, or
hold each request until the test lets it go."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class NotifyServer:
    def __init__(self, failures: int = 0, hold: threading.Event | None = None):
        self.received: list[dict] = []
        self.arrived = threading.Event()
        self.failures, self.hold = failures, hold
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if server.hold is not None:
                    server.hold.wait(30)
                if server.failures > 0:
                    server.failures -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                server.received.append(body)
                server.arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/secret-token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> NotifyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.hold is not None:
            self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def states(self) -> list[str]:
        return [body["state"] for body in self.received]
