"""`seglab runs --disk`: each run's size on disk by kind (checkpoints, predictions, exports, logs, other), largest
first, with totals; core/runs/disk_usage.py measures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.runs.disk_usage import KINDS, RunDiskUsage, human_size, run_disk_usage
from tui.cli.options import console
from tui.cli.text_table import print_box_table

SIZE_WIDTH = len("999.9 MB")
NARROW_DROPS = ("other", "logs", "exports")  # columns that give way, in this order, so run names stay whole


def show_disk_usage(run_paths: Sequence[Path], root: Path) -> list[RunDiskUsage]:
    """Print the table of the runs' sizes (largest first, a total row under it); returns the measurements."""
    usages = sorted((run_disk_usage(path) for path in run_paths), key=lambda usage: (-usage.total, usage.name))
    totals = {kind: sum(usage.sizes[kind] for usage in usages) for kind in KINDS}
    grand_total = sum(totals.values())
    kinds = _kinds_that_fit(max((len(usage.name) for usage in usages), default=3))
    columns = ["run", *kinds, "total"]
    rows = [[usage.name, *(_size_cell(usage.sizes[kind]) for kind in kinds), human_size(usage.total)]
            for usage in usages]
    rows.append(["total", *(human_size(totals[kind]) for kind in kinds), human_size(grand_total)])
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    # Rich's Table measures every cell: seconds for thousands of runs; these plain lines take milliseconds
    runs = f"{len(usages)} run{'' if len(usages) == 1 else 's'}"
    print_box_table(console, f"{runs} in {root}: {human_size(grand_total)}", columns, rows, widths,
                    set(range(1, len(columns))))
    left_out = [kind for kind in KINDS if kind not in kinds]
    if left_out:
        console.print(f"(narrow terminal: {', '.join(left_out)} left out of the columns, counted in the totals)",
                      markup=False)
    return usages


def _kinds_that_fit(name_width: int) -> list[str]:
    """The size columns to show: all of them, less NARROW_DROPS in turn while the names would be cut."""
    kinds = list(KINDS)

    def width() -> int:  # Rich's default box: a bar and a space either side of each column
        return 1 + (name_width + 3) + sum(max(len(kind), SIZE_WIDTH) + 3 for kind in [*kinds, "total"])

    for kind in NARROW_DROPS:
        if width() <= console.width:
            break
        kinds.remove(kind)
    return kinds


def _size_cell(nbytes: int) -> str:
    return human_size(nbytes) if nbytes else "-"
