"""What `seglab data check` found in a dataset: samples per split, problems, warnings and (multiclass or a labelling
tool's export) each class's pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DatasetReport:
    """What `check_dataset` found: samples per split and one line per problem (empty when all is well)."""

    root: Path
    layout: str  # one of LAYOUTS
    summary: str = ""  # an export's line: "COCO export: 3 classes (...), 412 images, 97 % annotated"
    warnings: list[str] = field(default_factory=list)  # what reads but may not be what the user meant
    counts: dict[str, int] = field(default_factory=dict)  # split -> number of samples listed (opened or not)
    problems: list[str] = field(default_factory=list)  # DataError messages, "path: problem"
    pairs: int = 0  # distinct image/mask pairs listed (a folder set's test may be its val part)
    class_names: tuple[str, ...] = ()  # multiclass: the classes, background first
    class_pixels: list[int] = field(default_factory=list)  # multiclass: pixels of each class over the pairs read

    def class_shares(self) -> list[float]:
        """Each class's share of the counted pixels (ignored pixels not counted)."""
        total = sum(self.class_pixels)
        return [count / total if total else 0.0 for count in self.class_pixels]

    @property
    def ok(self) -> bool:
        return not self.problems
