"""A comparison's report folder: compare.md and compare.csv (the table), curves.png (loss and val Dice per epoch,
every run overlaid), dice.png (each run's per-image Dice) and predictions.png (image, truth, each run's overlay on
the same images), drawn with matplotlib's Agg backend."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.atomic_files import atomic_write_text
from core.data.labels import class_colour
from core.errors import ConfigError
from core.inference.compare import MASK_SIDE, Comparison, table_rows
from core.overlay_drawing import draw_overlay

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_FILES = ("compare.md", "compare.csv", "curves.png", "dice.png", "predictions.png")


# matplotlib's tab10, so the dashboard's curves and legend give each run the colour it has in the figures
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf")


def run_colour(index: int) -> str:
    """One colour per run, the same in every figure and in the dashboard."""
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def check_report_folder(folder: Path) -> None:
    """Refuse a report folder whose files a report would overwrite: a file, a run's folder (its curves.png), or a
    folder holding anything but an earlier report (that one is replaced). Said before the comparison's work."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {folder}: is a file; give a folder for the report")
    if not folder.is_dir():
        return
    if (folder / "config.json").is_file():
        raise ConfigError(f"--out {folder}: is a run's folder (the report would replace its curves.png); "
                          "give a new folder")
    held = sorted(entry.name for entry in folder.iterdir())
    others = [name for name in held if name not in REPORT_FILES] or ([] if not held or _is_a_report(folder)
                                                                     else held)
    if others:
        raise ConfigError(f"--out {folder}: holds files a report did not write (e.g. {others[0]}); give a new or "
                          "empty folder, or an earlier report's")


def _is_a_report(folder: Path) -> bool:
    """Whether the folder's compare.md is one a report wrote (its first line), so its files may be replaced."""
    try:
        with (folder / "compare.md").open(encoding="utf-8") as f:
            return f.readline().startswith("# Comparing ")
    except (OSError, UnicodeDecodeError):
        return False


def write_report(comparison: Comparison, folder: Path, images: int = 4) -> list[Path]:
    """Write the report's files into `folder` (created); returns their paths. predictions.png needs the runs'
    predictions (compare_runs with predictions=True) and is left out without them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [_write(folder / "compare.md", markdown_table(table_rows(comparison), comparison)),
               _write(folder / "compare.csv", csv_table(table_rows(comparison, folders=True)))]
    written.append(_save(curves_figure(comparison), folder / "curves.png"))
    if all(entry.predictions for entry in comparison.runs):
        written.append(_save(dice_figure(comparison), folder / "dice.png"))
        names = comparison.chosen_images(images)
        if names:
            written.append(_save(predictions_figure(comparison, names), folder / "predictions.png"))
    return written


def markdown_table(rows: list[dict[str, str]], comparison: Comparison) -> str:
    columns = list(rows[0])
    lines = [f"# Comparing {len(rows)} runs on the {comparison.split} split ({comparison.checkpoint}.pt)", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(column, "") for column in columns) + " |" for row in rows]
    differing = ", ".join(comparison.differing) or "none"
    lines += ["", f"Settings that differ: {differing}.", "",
              "Figures: curves.png (loss and val Dice per epoch), dice.png (per-image Dice), predictions.png "
              "(the most disputed images first, then random ones)."]
    return "\n".join(lines) + "\n"


def csv_table(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")  # no display on SSH boxes and in CI
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def curves_figure(comparison: Comparison) -> Figure:
    """Three panels, train loss, val loss and val Dice per epoch, one line per run in the run's colour."""
    fig = _figure(13, 3.8)
    panels = fig.subplots(1, 3)
    for index, entry in enumerate(comparison.runs):
        epochs = entry.history
        x = [e.epoch for e in epochs]
        for ax, values in zip(panels, ([e.train_loss for e in epochs], [e.val_loss for e in epochs],
                                       [e.val_dice for e in epochs]), strict=True):
            ax.plot(x, values, color=run_colour(index), marker=".", label=entry.display_name)
    from matplotlib.ticker import MaxNLocator

    for ax, title in zip(panels, ("train loss", "val loss", "val Dice (per-image mean)"), strict=True):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    panels[2].legend(fontsize="small")
    return fig


def dice_figure(comparison: Comparison) -> Figure:
    """Each run's per-image Dice on the split as a box with every image drawn over it."""
    fig = _figure(max(4.0, 1.8 * len(comparison.runs)), 4)
    ax = fig.subplots()
    values = [entry.predictions.dice for entry in comparison.runs if entry.predictions]
    ax.boxplot(values, showfliers=False)
    for index, dice in enumerate(values):
        spread = np.random.default_rng(index).uniform(-0.12, 0.12, len(dice))
        ax.scatter(index + 1 + spread, dice, s=8, color=run_colour(index), alpha=0.7)
    ax.set_xticks(range(1, len(values) + 1), [entry.display_name for entry in comparison.runs], rotation=15,
                  fontsize="small")
    ax.set_ylabel(f"per-image Dice ({comparison.split})")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, axis="y")
    return fig


def predictions_figure(comparison: Comparison, names: list[str]) -> Figure:
    """A row per image: the image, its truth, then each run's prediction overlaid, titled with its Dice."""
    columns = 2 + len(comparison.runs)
    fig = _figure(2.2 * columns, 2.3 * len(names))
    axes = np.atleast_2d(fig.subplots(len(names), columns))
    pictures = display_images(comparison, names)
    for row, name in enumerate(names):
        image, truth = pictures[name]
        cells = [(image, "image"), (overlay(image, truth), "truth")]
        for entry in comparison.runs:
            assert entry.predictions is not None
            dice = entry.predictions.dice[entry.predictions.names.index(name)]
            title = f"{entry.display_name}\nDice {dice:.3f}"
            cells.append((overlay(image, entry.predictions.masks[name]), title))
        for column, (picture, title) in enumerate(cells):
            ax = axes[row, column]
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize="small")
        axes[row, 0].set_ylabel(name, fontsize="small")
    return fig


def grid_row(comparison: Comparison, name: str) -> np.ndarray:
    """One row of the predictions grid as a single RGB picture: the image, its truth, then each run's overlay,
    side by side at MASK_SIDE px each (the dashboard shows it image by image)."""
    image, truth = display_images(comparison, [name])[name]
    cells = [image, overlay(image, truth)]
    cells += [overlay(image, entry.predictions.masks[name]) for entry in comparison.runs if entry.predictions]
    gap = np.full((MASK_SIDE, 4, 3), 255, dtype=np.uint8)
    return np.concatenate([part for cell in cells for part in (cell, gap)][:-1], axis=1)


def display_images(comparison: Comparison, names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each named image (RGB uint8) and its truth (class ids) at MASK_SIDE px, from the first run's data."""
    import torch

    from core.image_statistics import IMAGENET_MEAN, IMAGENET_STD
    from core.run_data import split_dataset

    dataset = split_dataset(comparison.runs[0].config, comparison.split)
    index = {sample.name: position for position, sample in enumerate(dataset.samples)}
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    pictures = {}
    for name in names:
        image, mask = dataset[index[name]]
        rgb = ((image * std + mean).clamp(0, 1) * 255).to(torch.uint8)[None].float()
        rgb = torch.nn.functional.interpolate(rgb, size=(MASK_SIDE, MASK_SIDE), mode="bilinear")[0]
        ids = (mask.reshape(1, 1, *mask.shape[-2:]) > 0.5).long() if mask.dim() == 3 else mask[None, None].long()
        ids = torch.nn.functional.interpolate(ids.float(), size=(MASK_SIDE, MASK_SIDE), mode="nearest")[0, 0]
        pictures[name] = (rgb.round().to(torch.uint8).permute(1, 2, 0).numpy(), ids.to(torch.uint8).numpy())
    return pictures


def overlay(image: np.ndarray, classes: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Each non-background class blended over the image in its colour (class 1 alone for binary masks), as
    `seglab predict`'s overlays are."""
    present = [int(class_id) for class_id in np.unique(classes) if class_id != 0]
    return draw_overlay(Image.fromarray(image), [classes == class_id for class_id in present],
                        [class_colour(class_id) for class_id in present], alpha)


def _write(path: Path, text: str) -> Path:
    atomic_write_text(path, text)
    return path


def _save(fig: Figure, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    tmp.replace(path)
    return path
