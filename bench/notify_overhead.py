"""What watching a run costs it: the same small training run (synthetic, UNet width 16 at 64 px, 8 epochs) as a
child `seglab train` process, with nothing beside it, with --notify to a local endpoint that takes 10 s to answer
(plus a 10-s --notify-command), and with --log tensorboard,mlflow on top; each three times, interleaved. Reported:
the median epoch time (epochs 2-8, from events.jsonl), the whole process's wall time, and what the endpoint heard.

    python -m bench.notify_overhead

Notifications go out when a run ends or stalls, from a background thread; the wall time shows what waiting for a
slow endpoint at the end costs. Rows are appended to bench/notify_overhead_results.jsonl with the machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from core.device import cpu_model

RESULTS = Path(__file__).with_name("notify_overhead_results.jsonl")
SLOW_S = 10.0
TRAIN = ["--data", "synthetic", "--synthetic-count", "200", "--synthetic-size", "64", "--image-size", "64", "--width",
         "16", "--epochs", "8", "--batch-size", "8", "--workers", "0", "--device", "cpu"]


class SlowEndpoint:
    def __init__(self) -> None:
        self.received: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(SLOW_S)
                endpoint.received.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def one_run(root: Path, extra: list[str]) -> dict:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui.cli", "train", *TRAIN, *extra, "--runs-dir", str(root)], check=True,
                   capture_output=True)
    wall = time.perf_counter() - started
    newest = max(root.iterdir(), key=lambda path: path.stat().st_mtime)
    seconds = [json.loads(line)["seconds"] for line in (newest / "events.jsonl").read_text().splitlines()
               if '"type":"epoch"' in line]
    return {"epoch_s": statistics.median(seconds[1:]), "wall_s": wall}


def main() -> None:
    endpoint = SlowEndpoint()
    ways = {
        "nothing beside it": [],
        "slow --notify and --notify-command": ["--notify", endpoint.url, "--notify-command", f"sleep {SLOW_S:g}"],
        "the same + --log tensorboard,mlflow": ["--notify", endpoint.url, "--notify-command", f"sleep {SLOW_S:g}",
                                               "--log", "tensorboard,mlflow"],
    }
    measured: dict[str, list[dict]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(3):
            for way, extra in ways.items():
                root = Path(scratch) / f"{repeat}-{len(measured[way])}-{abs(hash(way))}" / "runs"
                root.mkdir(parents=True)
                heard = len(endpoint.received)
                measured[way].append({**one_run(root, extra), "heard": len(endpoint.received) - heard})
                print(way, measured[way][-1], flush=True)
    machine = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
               "date": time.strftime("%Y-%m-%d")}
    base = statistics.median(m["epoch_s"] for m in measured["nothing beside it"])
    with open(RESULTS, "a", encoding="utf-8") as f:
        for way, runs in measured.items():
            epoch_s = statistics.median(m["epoch_s"] for m in runs)
            row = {"way": way, "epoch_s": round(epoch_s, 3), "vs_nothing": round(epoch_s / base - 1, 4),
                   "wall_s": round(statistics.median(m["wall_s"] for m in runs), 1),
                   "notifications_heard": [m["heard"] for m in runs], **machine}
            print(json.dumps(row), flush=True)
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
