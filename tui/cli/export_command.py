"""`seglab export RUN`: the run's model as ONNX or TorchScript with its preprocessing contract, checked against
PyTorch right after export (non-zero exit when they disagree)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.runs.folders import open_run, runs_root
from tui.cli.options import RunRef, RunsDir, app, console, err_console, fail


@app.command(name="export", epilog="Examples:\n\n  seglab export 20261128-1425\n\n"
             "  seglab export pets --dynamic --out pets.onnx\n\n  seglab export pets --format torchscript --size 256")
def export_command(
    run: RunRef,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="best | last")] = "best",
    fmt: Annotated[str, typer.Option("--format", help="onnx | torchscript")] = "onnx",
    size: Annotated[int | None, typer.Option("--size", min=8, max=4096, help="Fixed square input size (default: the "
                                                                    "run's image size).")] = None,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="ONNX with dynamic batch, height and width (any "
                                                            "size works, as in PyTorch).")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: RUN/export/"
                                                           "<checkpoint>-<size|dynamic>.onnx or .pt).")] = None,
    runs_dir: RunsDir = None,
) -> None:
    r"""Export a run's model to ONNX or TorchScript, checked against PyTorch on the run's own images.

    ONNX needs the extra: pip install 'seglab\[export]'. The check: the largest probability difference and the
    share of mask pixels that agree; exits 1 when the difference is above 1e-3 or the agreement below 99.9 %."""
    from core.inference.export import FORMATS, MAX_PROBABILITY_DIFFERENCE, MIN_MASK_AGREEMENT, export_run

    if checkpoint not in ("best", "last"):
        raise fail(f"--checkpoint: {checkpoint!r} is not one of best, last")
    if fmt not in FORMATS:  # named as the user typed it, before the run is looked up
        raise fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    the_run = open_run(run, runs_root(runs_dir))
    with err_console.status(f"exporting {the_run.name} ({fmt})..."):
        done = export_run(the_run, checkpoint, fmt, size, dynamic, out)
    parity = done.parity
    console.print(f"exported: {done.path} (exporter: {done.exporter}); contract: {done.contract}", markup=False)
    console.print(f"parity on {parity.images} images of the run's data: max probability difference "
                  f"{parity.max_probability_difference:.2e} (≤ {MAX_PROBABILITY_DIFFERENCE:.0e}), mask agreement "
                  f"{parity.mask_agreement:.4%} (≥ {MIN_MASK_AGREEMENT:.1%})", markup=False)
    if not parity.ok:
        err_console.print("seglab: error: the exported model does not match PyTorch (see the line above)",
                          markup=False)
        raise typer.Exit(1)
