"""One candidate setting of the demo, tried in one process: generate (first use), train, evaluate and predict
the test split; prints the seconds of each part, the best val Dice, the test Dice and each epoch's val Dice.

    python -m bench.demo_settings '{"precision": "fp32", "image_size": 64, "width": 8, "seed": 1}'

The argument holds TrainConfig fields over the demo preset. This is how the demo's settings were chosen
(bench/README.md, "Fast on every machine"); bench/demo_speed.py times the chosen ones as users run them.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from core.config import DEMO_CONFIG
from core.inference.evaluation import evaluate_run
from core.inference.predict import predict
from core.runs.events import EpochEvent
from core.training.engine import train
from core.training.launch import prepare_run


def main() -> None:
    overrides = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    config = DEMO_CONFIG.replace(**overrides)
    epochs = []

    def on_event(event) -> None:
        if isinstance(event, EpochEvent):
            epochs.append((event.epoch, round(event.val_dice, 4), round(event.seconds, 2)))

    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        plan = prepare_run(config, Path(root))
        prepared = time.perf_counter()
        summary = train(plan.config, plan.run, on_event=on_event)
        trained = time.perf_counter()
        result = evaluate_run(plan.run, split="test", checkpoint="best", device="auto")
        predict(plan.run, split="test", checkpoint="best", device="auto")
        done = time.perf_counter()
    print(json.dumps({"overrides": overrides, "prepare_s": round(prepared - started, 2),
                      "train_s": round(trained - prepared, 2), "eval_predict_s": round(done - trained, 2),
                      "best_val": round(summary.best_dice, 4), "test": round(result["dice"], 4), "epochs": epochs}))


if __name__ == "__main__":
    main()
