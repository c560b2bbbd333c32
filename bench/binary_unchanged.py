"""Binary runs must not change by a single number: train the same small binary run with this checkout and with
another one (an earlier commit, e.g. a `git worktree`), each in its own process, and compare their config.json and
every epoch's losses, Dice and IoU exactly.

    git worktree add /tmp/before <commit> && python -m bench.binary_unchanged --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import json, os, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
from core.config import TrainConfig
from core.runs.folders import create_run
from core.training.engine import train
config = TrainConfig(model=sys.argv[3], data=sys.argv[2], epochs=10, lr=5e-3, batch_size=8, image_size=64, width=8,
                     device="cpu", seed=0, name="same", cache="none", workers=0, synthetic_count=48,
                     synthetic_size=64)
run = create_run(config, Path(tempfile.mkdtemp()))
train(config, run)
epochs = [json.loads(line) for line in open(run.events_path) if '"type":"epoch"' in line]
saved = json.loads(run.config_path.read_text())
saved.pop("runtime", None)
saved.pop("seglab_version", None)
print(json.dumps({"config": saved, "epochs": [{key: e[key] for key in ("train_loss", "val_loss", "val_dice",
                                                                        "val_iou")} for e in epochs]}))
'''


def run_with(checkout: Path, data: str, model: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", CHILD, str(checkout), data, model], check=True,
                             capture_output=True, text=True, env={"SEGLAB_CACHE_DIR": cache, "PATH": ""})
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--data", nargs="+", default=["synthetic", "../shared/data/oxford-pet-mini"])
    parser.add_argument("--models", nargs="+", default=["unet", "resnet34_unet"])
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    for data in args.data:
        data = data if data == "synthetic" else str(Path(data).resolve())
        for model in args.models:
            before, after = run_with(args.before, data, model), run_with(here, data, model)
            added = {key: after["config"][key] for key in sorted(set(after["config"]) - set(before["config"]))}
            same_config = all(after["config"].get(key) == value for key, value in before["config"].items())
            print(f"{Path(data).name} {model}: epochs identical {before['epochs'] == after['epochs']} "
                  f"(last: {after['epochs'][-1]}); config identical but for new fields {same_config}; new: {added}")


if __name__ == "__main__":
    main()
