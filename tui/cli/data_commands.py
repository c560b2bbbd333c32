"""`seglab data`: generate the synthetic set, check a dataset (a folder, or a labelling tool's export), import an
export into seglab's folder layout, download Oxford-IIIT Pet or ImageNet weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from core.data.exports import FORMAT_CHOICES
from core.models import MODELS, RESNET_DEPTHS
from tui.cli.options import app, console, err_console

data_app = typer.Typer(help="Make, check, import and download datasets.", no_args_is_help=True)
MAX_LINES = 50  # problems and warnings printed before "... and N more"
app.add_typer(data_app, name="data")


@data_app.command(epilog="Example:\n\n  seglab data synth --out data/synth --count 200 --size 128 --seed 0")
def synth(
    out: Annotated[Path, typer.Option(help="Folder to write (train/, val/, test/ with images/ and masks/)")],
    count: Annotated[int, typer.Option(help="Number of image/mask pairs (80/10/10 split)")] = 300,
    size: Annotated[int, typer.Option(help="Side of the square images in pixels")] = 128,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes")] = 0,
) -> None:
    """Generate the synthetic dataset (textured backgrounds, blobby foreground shapes)."""
    from core.data.synthetic import generate_synthetic

    with err_console.status(f"generating {count} images of {size}x{size}..."):
        folder = generate_synthetic(out, count=count, size=size, seed=seed)
    console.print(f"wrote {count} pairs to {folder}", markup=False)


@data_app.command(epilog="Examples:\n\n  seglab data check ~/data/oxford-iiit-pet\n\n  seglab data check data/synth\n\n"
                  "  seglab data check ~/exports/cvat-task-12/annotations/instances_default.json")
def check(
    folder: Annotated[Path, typer.Argument(help="Dataset: an Oxford-IIIT Pet or images/ + masks/ folder, or a COCO, "
                                                "VOC/CVAT mask, LabelMe or YOLO export (a folder, or a COCO .json)")],
    val_fraction: Annotated[float, typer.Option(help="Share of trainval counted as val")] = 0.1,
    seed: Annotated[int, typer.Option(help="Split seed")] = 0,
    task: Annotated[str, typer.Option(help="binary | multiclass: read masks as class ids and report each class's "
                                           "pixel share")] = "binary",
    classes: Annotated[int, typer.Option(help="Classes including background, for a folder without classes.txt "
                                              "(0 = as many as the largest id found)")] = 0,
    ignore_index: Annotated[int, typer.Option(help="Mask value to ignore (e.g. 255); -1 = none")] = -1,
) -> None:
    """Open every image and mask; report counts per split and every problem found.

    Multiclass: also the classes found and each one's share of the pixels."""
    from core.data import check_dataset
    from core.data.labels import TASKS
    from core.errors import ConfigError

    if task not in TASKS:
        raise ConfigError(f"task: {task!r} is not one of {', '.join(TASKS)}")

    with Progress(console=err_console, transient=True) as progress:
        bar = progress.add_task("opening image/mask pairs", total=None)
        report = check_dataset(folder, val_fraction=val_fraction, seed=seed, task=task, classes=classes,
                               ignore_index=ignore_index,
                               on_progress=lambda done, total: progress.update(bar, completed=done, total=total))
    if report.summary:
        console.print(report.summary, markup=False)
    table = Table(title=f"{report.root} ({report.layout} layout)")
    table.add_column("split")
    table.add_column("pairs", justify="right")
    for split, count in report.counts.items():
        table.add_row(split, str(count))
    console.print(table)
    summary = f"{report.pairs} pairs"
    if report.layout == "oxford-pet":
        summary += f" (trainval {report.counts['train'] + report.counts['val']}, test {report.counts['test']})"
    console.print(summary, markup=False)
    if report.class_names:
        classes_table = Table(title=f"{len(report.class_names)} classes")
        for column in ("id", "class", "pixels", "share"):
            classes_table.add_column(column, justify="left" if column == "class" else "right")
        for index, (name, pixels, share) in enumerate(zip(report.class_names, report.class_pixels,
                                                          report.class_shares(), strict=True)):
            classes_table.add_row(str(index), name, str(pixels), f"{share:.1%}")
        console.print(classes_table)
    _print_lines("warning", report.warnings)
    if report.problems:
        _print_lines("problem", report.problems)
        raise typer.Exit(1)
    console.print("ok: every pair opened", markup=False)


def _print_lines(kind: str, lines: list[str]) -> None:
    for line in lines[:MAX_LINES]:
        err_console.print(f"{kind}: {line}", markup=False)
    if len(lines) > MAX_LINES:
        err_console.print(f"... and {len(lines) - MAX_LINES} more {kind}s", markup=False)


@data_app.command(name="import", epilog="Examples:\n\n  seglab data import ~/exports/cvat-task-12 --out data/pets\n\n"
                  "  seglab data import labels/instances.json --out data/pets --format coco")
def import_command(
    source: Annotated[Path, typer.Argument(help="The export: a folder, or a COCO .json with its images beside it")],
    out: Annotated[Path, typer.Option(help="New folder to write seglab's layout into")],
    fmt: Annotated[str, typer.Option("--format", help=f"{' | '.join(FORMAT_CHOICES)} (auto: detected)",
                                     autocompletion=lambda incomplete: [c for c in FORMAT_CHOICES
                                                                         if c.startswith(incomplete)])] = "auto",
) -> None:
    """Copy a labelling tool's export into seglab's folder layout: images/, masks/ of class ids, classes.txt.

    The export's train/val/test splits are kept as subfolders. Every image is opened and every mask painted; the
    first unusable file stops the import and nothing is written (it is built in a temporary folder)."""
    from core.data.importing import import_export

    with Progress(console=err_console, transient=True) as progress:
        bar = progress.add_task("importing", total=None)
        done = import_export(source, out, fmt,
                             on_progress=lambda count, total: progress.update(bar, completed=count, total=total))
    _print_lines("warning", done.warnings)
    splits = ", ".join(f"{count} {split}" if split != "all" else f"{count} (unsplit)"
                       for split, count in done.counts.items())
    console.print(f"{done.title} -> {done.out}: {splits} images, classes {', '.join(done.class_names)}", markup=False)
    command = f"seglab train --data {done.out}" + (" --task multiclass" if len(done.class_names) > 2 else "")
    console.print(f"train with `{command}`", markup=False)


WEIGHTS_NAMES = {f"{name}-weights": name for name, spec in MODELS.items()
                 if spec.pretrained_encoder and not spec.imagenet.startswith("package:")}
WEIGHTS_NAMES |= {f"resnet{depth}-weights": f"resnet{depth}_unet" for depth in RESNET_DEPTHS}  # the older names


@data_app.command(epilog="Examples:\n\n  seglab data download oxford-pet --to ~/data\n\n"
                  "  seglab data download resnet34_unet-weights\n\n  seglab data download deeplabv3_resnet50-weights")
def download(
    what: Annotated[str, typer.Argument(
        help="oxford-pet (the dataset, into --to) | MODEL-weights: torchvision's ImageNet weights of a model's "
             "encoder or backbone, into torch's cache, for --encoder-weights imagenet (MODEL one of "
             f"{', '.join(name.removesuffix('-weights') for name in WEIGHTS_NAMES if '_' in name)})",
        autocompletion=lambda incomplete: [n for n in ("oxford-pet", *WEIGHTS_NAMES) if n.startswith(incomplete)])],
    to: Annotated[Path, typer.Option(help="Folder to download and unpack the dataset into")] = Path("data"),
) -> None:
    """Download Oxford-IIIT Pet (about 800 MB) or a model's ImageNet weights (15-240 MB), through torchvision."""
    from core.errors import ConfigError

    if what in WEIGHTS_NAMES:
        from core.models.imagenet import download_imagenet_weights

        model = WEIGHTS_NAMES[what]
        with err_console.status(f"downloading {model}'s ImageNet weights..."):
            path = download_imagenet_weights(model)
        console.print(f"weights: {path}; train with `seglab train --model {model} --encoder-weights imagenet`",
                      markup=False)
        return
    if what != "oxford-pet":
        models = ", ".join(dict.fromkeys(WEIGHTS_NAMES.values()))
        raise ConfigError(f"what: {what!r} is neither oxford-pet nor MODEL-weights (MODEL one of {models})")
    from core.data.oxford_pet import download_oxford_pet

    with err_console.status(f"downloading Oxford-IIIT Pet into {to}..."):
        folder = download_oxford_pet(to)
    console.print(f"Oxford-IIIT Pet is in {folder}; train with `seglab train --data {folder}`", markup=False)
