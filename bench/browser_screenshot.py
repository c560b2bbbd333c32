"""A screenshot of a page after it has run for a while in headless Chromium, through the DevTools protocol
(aiohttp, which seglab[web] brings): `--screenshot` alone shoots before a websocket app has drawn anything.

    python -m bench.browser_screenshot http://localhost:8765/ docs/serve.png --wait 8
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp


async def shoot(url: str, out: Path, wait: float, width: int, height: int, port: int = 9333) -> None:
    profile = tempfile.mkdtemp()
    browser = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
                                f"--window-size={width},{height}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/json") as response:
                        pages = [p for p in await response.json() if p["type"] == "page"]
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as devtools:
                ids = iter(range(1, 1000))

                async def call(method: str, **params) -> dict:
                    number = next(ids)
                    await devtools.send_str(json.dumps({"id": number, "method": method, "params": params}))
                    while True:
                        message = json.loads((await devtools.receive()).data)
                        if message.get("id") == number:
                            return message.get("result", {})

                await call("Page.navigate", url=url)
                started = time.monotonic()
                while time.monotonic() - started < wait:
                    await asyncio.sleep(0.2)
                shot = await call("Page.captureScreenshot", format="png")
                out.write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.terminate()
        browser.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--wait", type=float, default=8.0, help="seconds the page runs before the shot")
    parser.add_argument("--size", default="1280x760")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    asyncio.run(shoot(args.url, args.out, args.wait, width, height))


if __name__ == "__main__":
    main()
