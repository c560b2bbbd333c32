"""seglab's ResNet34-UNet against the peer, smp's Unet(resnet34), after the same training: the same
loop, data, seed, epochs and runtime; per-image Dice on the validation and test splits.

    python -m bench.peer_dice --data ../shared/data/oxford-pet-mini --epochs 15 --size 128

Both models start from random weights (no ImageNet encoder) and go through seglab's own
train_one_epoch / evaluate. Needs segmentation_models_pytorch (and huggingface_hub<1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time

import torch

from core.config import TrainConfig
from core.device import resolve_runtime
from core.losses import build_loss
from core.models import build_model
from core.run_data import split_dataset
from core.training.loops import build_optimizer, epoch_seed, evaluate, make_loader, train_one_epoch


def fit(model: torch.nn.Module, config: TrainConfig) -> dict:
    runtime = resolve_runtime(config.device, config.precision, config.memory_format)
    model = runtime.prepare_model(model)
    loss_fn = build_loss(config.loss)
    optimizer = build_optimizer(model, config, runtime)
    scaler = runtime.grad_scaler()
    train_set = split_dataset(config, "train", augment=config.augment)
    train_loader = make_loader(train_set, config, runtime, shuffle=True)
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        torch.manual_seed(epoch_seed(config.seed, epoch))
        train_loader.sampler.set_epoch(epoch)
        train_one_epoch(model, train_loader, loss_fn, optimizer, scaler, runtime, epoch, lambda event: None,
                        threading.Event())
    seconds = time.perf_counter() - started
    scores = {}
    for split in ("val", "test"):
        loader = make_loader(split_dataset(config, split), config, runtime, shuffle=False)
        scores[split] = evaluate(model, loader, loss_fn, runtime)
    return {"train_seconds": round(seconds, 1), **{f"{split}_dice": round(s["dice"], 4) for split, s in scores.items()},
            "test_dice_micro": round(scores["test"]["dice_micro"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import segmentation_models_pytorch as smp

    os.environ.setdefault("SEGLAB_CACHE_DIR", tempfile.mkdtemp())
    config = TrainConfig(model="resnet34_unet", data=args.data, epochs=args.epochs, image_size=args.size,
                         seed=args.seed)
    torch.manual_seed(args.seed)
    ours = fit(build_model("resnet34_unet"), config)
    torch.manual_seed(args.seed)
    peer = fit(smp.Unet("resnet34", encoder_weights=None, classes=1), config)
    print(json.dumps({"epochs": args.epochs, "size": args.size, "seed": args.seed, "seglab_resnet34_unet": ours,
                      "smp_unet_resnet34": peer}, indent=2))


if __name__ == "__main__":
    main()
