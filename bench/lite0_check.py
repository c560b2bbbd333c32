"""Are EfficientNet-Lite0's packaged weights really ImageNet's, and which input scaling do they expect? Every photo of
oxford-pet-mini through the classifier (seglab's network with the package's `_fc` head) at 224 px, under three
scalings; the share of photos whose top-5 (and top-1) ImageNet classes include a cat or dog class (ids 151-285), and
the mean probability those classes get.

    python -m bench.lite0_check            # needs pip install 'seglab[lite0]'

Photos are prepared as seglab prepares them for every model (resized to a square, ImageNet-normalised), then
rescaled: (x - 127) / 128 as seglab's EfficientNet-Lite0 UNet does, or left ImageNet-normalised, or x / 255.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from core.data.images import open_rgb
from core.data.transforms import normalize, resize_image
from core.device import cpu_model
from core.image_statistics import IMAGENET_MEAN, IMAGENET_STD
from core.models.efficientnet_lite import EfficientNetLite0, load_lite0_weights
from core.models.efficientnet_lite_unet import lite0_input
from core.models.imagenet import imagenet_weights_file

MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-pet-mini"
RESULTS = Path(__file__).with_name("lite0_check_results.jsonl")
PETS = (151, 285)


def scalings(images: torch.Tensor) -> dict[str, torch.Tensor]:
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return {"(x-127)/128 (seglab's)": lite0_input(images), "ImageNet mean/std": images,
            "x/255": images * std + mean}


def main() -> None:
    network = EfficientNetLite0(classifier=True).eval()
    load_lite0_weights(network, imagenet_weights_file("efficientnet_lite0_unet"))
    photos = sorted((MINI / "images").glob("*.jpg"))
    images = torch.stack([normalize(resize_image(open_rgb(photo), 224)) for photo in photos])
    machine = {"cpu": cpu_model(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    for name, scaled in scalings(images).items():
        with torch.no_grad():
            probabilities = torch.softmax(network(scaled), dim=1)
        top5 = probabilities.topk(5).indices
        is_pet = (top5 >= PETS[0]) & (top5 <= PETS[1])
        row = {"scaling": name, "photos": len(photos), "top5_pet": int(is_pet.any(1).sum()),
               "top1_pet": int(is_pet[:, 0].sum()),
               "mean_pet_probability": round(float(probabilities[:, PETS[0]:PETS[1] + 1].sum(1).mean()), 4),
               **machine}
        print(json.dumps(row), flush=True)
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
