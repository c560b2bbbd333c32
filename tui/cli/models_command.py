"""`seglab models`: every model the registry offers, with its parameters, forward GFLOPs and whether ImageNet
encoder weights apply."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tui.cli.options import app, console


@app.command(name="models", epilog="Examples:\n\n  seglab models\n\n  seglab models --image-size 512 --width 32")
def models_command(
    image_size: Annotated[int, typer.Option("--image-size", min=32, help="Square input size for the GFLOPs.")] = 256,
    width: Annotated[int, typer.Option("--width", min=1, help="The --width the sizes are for.")] = 64,
) -> None:
    """List the models: parameters, forward GFLOPs and whether ImageNet encoder weights apply.

    GFLOPs are of one image at --image-size (2 per multiply-add), at --width. ImageNet weights: `seglab data
    download resnetN-weights`, then --encoder-weights."""
    from core.models.summary import model_sizes

    table = Table(title=f"models at width {width}, one {image_size} px image, binary head", title_justify="left")
    table.add_column("MODEL", no_wrap=True)
    table.add_column("PARAMETERS", justify="right", no_wrap=True)
    table.add_column("GFLOPS", justify="right", no_wrap=True)
    table.add_column("IMAGENET WEIGHTS", no_wrap=True)
    for size in model_sizes(image_size, width):
        weights = size.name.removesuffix("_unet") + "-weights" if size.imagenet_weights else "-"
        table.add_row(size.name, f"{size.parameters:,}", f"{size.gflops:.1f}", weights)
    console.print(table)
    console.print("Each ResNet encoder has torchvision's resnetN layout; the README's Models section says more.",
                  markup=False)
