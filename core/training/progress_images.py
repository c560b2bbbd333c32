"""Progress pictures: after an epoch, the model's masks on a fixed handful of validation images, one PNG an epoch in
the run's progress/ folder (each row: the image with its true mask, then with the predicted one), so a person sees
the masks improve, in the live screen, in TensorBoard or in any image viewer. Drawing one never changes training:
the images are decoded once, and the forward pass runs in eval mode without gradients or random numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from core.atomic_files import atomic_output
from core.data.dataset import SegmentationDataset
from core.data.labels import Labels, class_colour
from core.data.transforms import normalize
from core.device import Runtime
from core.errors import DataError
from core.overlay_drawing import draw_overlay
from core.runs.pictures import progress_path

TRUTH_COLOUR = (40, 220, 90)  # the true mask, green; predictions take the class colours (binary: red)
ALPHA = 0.45
HEADER_PX = 14
MIN_TILE_PX = 128  # smaller images are enlarged (nearest neighbour) to this, so masks and the header stay readable


class ProgressPictures:
    """Draws the pictures of one run: the same `count` validation images (spread evenly over the split) every time."""

    def __init__(self, dataset: SegmentationDataset, count: int, labels: Labels, runtime: Runtime, run_path: Path):
        size = len(dataset)
        shown = min(count, size)  # more asked than the split holds: every image, once
        indices = [index * size // shown for index in range(shown)] if shown else []
        self.samples = []  # uint8 3xSxS image, uint8 1xSxS mask
        for index in indices:
            try:
                self.samples.append(dataset.decode(index))
            except (DataError, OSError):  # an unreadable image (skip_bad) is left out of the pictures, not fatal
                continue
        self.labels, self.runtime, self.run_path = labels, runtime, Path(run_path)

    def draw(self, model: torch.nn.Module, epoch: int) -> Path | None:
        """The picture of `epoch` from `model` (eval mode), written atomically; None when there are no images."""
        if not self.samples:
            return None
        images = torch.stack([normalize(image) for image, _ in self.samples])
        was_training = model.training
        model.eval()
        with torch.no_grad(), self.runtime.autocast():
            logits = model(self.runtime.prepare_batch(images)).float().cpu()
        model.train(was_training)
        rows = [np.concatenate([self._overlay(image, self._truth(mask)), self._overlay(image, self._predicted(logit))],
                               axis=1) for (image, mask), logit in zip(self.samples, logits, strict=True)]
        picture = np.concatenate(rows, axis=0)
        scale = -(-MIN_TILE_PX // self.samples[0][0].shape[-1])  # ceil
        if scale > 1:
            picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
        picture = Image.fromarray(picture)
        framed = Image.new("RGB", (picture.width, picture.height + HEADER_PX), (20, 20, 20))
        framed.paste(picture, (0, HEADER_PX))
        ImageDraw.Draw(framed).text((3, 1), f"epoch {epoch}: truth | prediction", fill=(230, 230, 230))
        path = progress_path(self.run_path, epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path, "wb") as f:
            framed.save(f, format="PNG")
        return path

    def _truth(self, mask: torch.Tensor) -> list[tuple[torch.Tensor, tuple[int, int, int]]]:
        if not self.labels.multiclass:
            return [(mask[0] > 0, TRUTH_COLOUR)]
        return [(mask[0] == index, class_colour(index)) for index in range(1, self.labels.classes)]

    def _predicted(self, logit: torch.Tensor) -> list[tuple[torch.Tensor, tuple[int, int, int]]]:
        if not self.labels.multiclass:
            return [(logit[0] > 0, class_colour(1))]  # sigmoid > 0.5
        classes = logit.argmax(dim=0)
        return [(classes == index, class_colour(index)) for index in range(1, self.labels.classes)]

    @staticmethod
    def _overlay(image: torch.Tensor, masks: list[tuple[torch.Tensor, tuple[int, int, int]]]) -> np.ndarray:
        """`image` with the masks (which never overlap) blended in, as draw_segmentation_masks draws them."""
        photo = Image.fromarray(image.permute(1, 2, 0).numpy())
        return draw_overlay(photo, [mask.numpy() for mask, _ in masks], [colour for _, colour in masks], ALPHA)
