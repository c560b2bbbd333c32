#!/usr/bin/env bash
# The dashboard in a real browser, as `seglab serve` gives it over an SSH tunnel: train one tiny run, serve
# its runs folder, take a headless Chromium screenshot of the page, save it as docs/serve.png (the README shows
# it). Not part of CI (it needs Chromium: apt-get install chromium). Usage: bash bench/browser_check.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8765}"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

export SEGLAB_CACHE_DIR="$work/cache"
python -m tui.cli train --data synthetic --synthetic-count 64 --synthetic-size 64 --image-size 64 --width 8 --lr 0.01 \
    --epochs 8 --name browser-check --runs-dir "$work/runs" > /dev/null
python -m tui.cli serve --port "$port" --runs-dir "$work/runs" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    if curl -fs "http://localhost:$port/" > /dev/null; then break; fi
    sleep 0.2
done
python -m bench.browser_screenshot "http://localhost:$port/" docs/serve.png --wait 10
echo "screenshot: docs/serve.png"
