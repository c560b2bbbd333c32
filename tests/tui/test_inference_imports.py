"""`seglab predict` and `seglab evaluate` never import torchvision: importing it loads torch._dynamo, 1.7 s of a
2-core machine's start, for nothing they use (core/models/resnet_blocks.py, core/overlay_drawing.py,
core/data/augment.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

from core.config import TrainConfig
from core.models import build_model
from core.runs.folders import create_run, runs_root
from core.training.checkpoints import save_checkpoint_atomically

IMPORTS_AFTER_MAIN = """
import sys
from tui.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    code = done.code
print("loaded:", ",".join(name for name in ("torchvision", "torch._dynamo") if name in sys.modules))
sys.exit(code)
"""


@pytest.mark.parametrize("model", ["unet", "resnet18_unet"])
def test_predict_and_evaluate_run_without_importing_torchvision_or_dynamo(tmp_path, model):
    run = create_run(TrainConfig(model=model, data="synthetic", synthetic_count=24, synthetic_size=32, image_size=32,
                                 width=8, device="cpu", precision="fp32", name="imports"), runs_root())
    torch.manual_seed(0)
    save_checkpoint_atomically(run.checkpoint_path("best"), {"model": build_model(model, width=8).state_dict(),
                                                             "epoch": 1, "config": run.load_config().to_dict()})
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, size in enumerate([(40, 30), (24, 48)]):
        Image.new("RGB", size, (30 * index, 90, 200)).save(photos / f"p{index}.png")

    done = subprocess.run([sys.executable, "-c", IMPORTS_AFTER_MAIN, "predict", run.name, "--input", str(photos),
                           "--engine", "torch", "--device", "cpu"], capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "loaded: \n" in done.stdout, done.stdout
    assert sorted(path.name for path in (run.predictions_dir / "files").glob("*_overlay.png")) == [
        "p0_overlay.png", "p1_overlay.png"]

    done = subprocess.run([sys.executable, "-c", IMPORTS_AFTER_MAIN, "evaluate", run.name, "--split", "test",
                           "--device", "cpu"], capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "loaded: \n" in done.stdout, done.stdout
    assert (run.path / "eval-test.json").is_file()
