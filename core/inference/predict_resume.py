"""Picking up a predictions folder where an earlier run of the same settings stopped: what produced the folder
(predict_settings.json), the images its results.csv already holds (rows are appended only once an image's PNGs
are whole), and starting over when the settings differ, so one folder never mixes two checkpoints' results."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic_files import atomic_output, atomic_write_text
from core.data.labels import Labels
from core.errors import ConfigError
from core.inference.results import (
    RESULTS_CSV,
    SUMMARY_JSON,
    PredictionRow,
    iter_results,
    result_columns,
    row_record,
)

SETTINGS_JSON = "predict_settings.json"
SOURCE_KEY = "input"  # in SETTINGS_JSON: what the folder predicts ('split:test', or the input paths)
UNKNOWN_SOURCE = "unknown"  # what a folder holds rows of, written by a seglab that did not record it
PICTURE_SUFFIXES = ("_mask.png", "_overlay.png")  # what results.py's mask_path and overlay_path name
Key = tuple[str, str]  # (output stem, image file): what identifies an image's row


def checkpoint_identity(path: Path) -> dict[str, Any]:
    """The checkpoint file as it is now: a retrained best.pt has another size or modification time."""
    stat = path.stat()
    return {"checkpoint": str(path.resolve()), "checkpoint_bytes": stat.st_size,
            "checkpoint_mtime_ns": stat.st_mtime_ns}


def checkpoint_file_key(path: Path) -> str:
    """A short name for a checkpoint file given by path, from its whole absolute path: what its export and its
    evaluation are named by, so two files named model.pt never share either."""
    return hashlib.sha256(str(Path(path).expanduser().resolve()).encode()).hexdigest()[:12]


@dataclass
class Resumed:
    """What a predictions folder already holds for this run's inputs."""

    done: set[Key]
    notice: str | None  # one line for the user: resuming, or starting over and why


def prepare_folder(out_dir: Path, settings: dict[str, Any], keys: list[Key], labels: Labels,
                   source: str | list[str] | None = None) -> Resumed:
    """Make `out_dir` ready for appending rows: keep the rows of an earlier run with the same `settings` whose
    image is among `keys` and whose PNGs exist (in `keys` order), or start over when the settings differ.

    `source` is what is predicted ('split:test', or the input paths made absolute): a folder holding the results
    of another source is refused (ConfigError), never emptied; one seglab wrote before it recorded its source is
    taken as this one's."""
    label = f"predictions/{out_dir.name}"
    previous = _read_settings(out_dir)
    results = out_dir / RESULTS_CSV
    if source is not None and (earlier_source := source_of(out_dir)) not in (None, source):
        raise ConfigError(f"{label} holds the predictions of {described(earlier_source)}; give another --name for "
                          f"{described(source)} (or delete that folder to reuse its name)")
    recorded = previous.pop(SOURCE_KEY, None) if previous is not None else None
    with_source = {**settings, SOURCE_KEY: source} if source is not None else settings
    if results.is_file() and previous != settings:
        changed = sorted(key for key in {*settings, *(previous or {})}
                         if (previous or {}).get(key) != settings.get(key)) if previous is not None else []
        names = list(dict.fromkeys(_plain(key) for key in changed))
        why = f"another {', '.join(names)}" if names else "settings seglab did not record"
        _start_over(out_dir, with_source, labels)
        return Resumed(set(), f"{label} was made with {why}; starting over")
    if not results.is_file():
        _start_over(out_dir, with_source, labels)
        return Resumed(set(), None)
    if source is not None and recorded != source:  # a folder of no rows yet, or one written before sources were
        atomic_write_text(out_dir / SETTINGS_JSON, json.dumps(with_source, indent=2) + "\n")
    wanted = {key: index for index, key in enumerate(keys)}
    rows, in_file = _readable_rows(out_dir, labels)
    kept = sorted((row for row in rows if (row.name, row.image) in wanted and row.mask.is_file()
                   and row.overlay.is_file()), key=lambda row: wanted[(row.name, row.image)])
    if [(row.name, row.image) for row in kept] != in_file:  # rows of other inputs, or out of order: only ours
        _write_rows(out_dir, kept, labels)
    done = {(row.name, row.image) for row in kept}
    removed = _remove_unlisted_pictures(out_dir, kept)
    gone = f"removed the pictures of {removed:,} image{'s' * (removed != 1)} not in this input" if removed else ""
    if not done:
        return Resumed(done, gone or None)
    return Resumed(done, f"resuming {label}: {len(done):,} of {len(keys):,} images already done "
                         f"(delete the folder to start over){'; ' * bool(gone)}{gone}")


def rows_in_order(out_dir: Path, keys: list[Key]) -> bool:
    """Whether results.csv lists its images in `keys` order (a resumed folder whose inputs changed may not)."""
    wanted = {key: index for index, key in enumerate(keys)}
    last = -1
    for row in iter_results(out_dir):
        index = wanted.get((row.name, row.image), -1)
        if index <= last:
            return False
        last = index
    return True


def sort_rows(out_dir: Path, keys: list[Key], labels: Labels) -> None:
    """Rewrite results.csv (atomically) with its rows in `keys` order."""
    wanted = {key: index for index, key in enumerate(keys)}
    rows = sorted(iter_results(out_dir), key=lambda row: wanted.get((row.name, row.image), len(wanted)))
    _write_rows(out_dir, rows, labels)


def _readable_rows(out_dir: Path, labels: Labels) -> tuple[list[PredictionRow], list[Key]]:
    """results.csv's whole rows; a last line cut short (the process killed mid-write) is dropped from the file,
    and a file whose header is not this task's is emptied."""
    results = out_dir / RESULTS_CSV
    with open(results, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        with open(results, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
    with open(results, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None)
    if header != result_columns(labels):
        _write_rows(out_dir, [], labels)
        return [], []
    rows = list(iter_results(out_dir))
    return rows, [(row.name, row.image) for row in rows]


def _remove_unlisted_pictures(out_dir: Path, kept: list[PredictionRow]) -> int:
    """Delete the folder's mask and overlay PNGs that belong to no row kept (images of another input, or of other
    settings), so the folder holds exactly what results.csv lists; returns of how many images."""
    keep = {path.name for row in kept for path in (row.mask, row.overlay)}
    stale = [entry for entry in os.scandir(out_dir) if entry.name.endswith(PICTURE_SUFFIXES)
             and entry.name not in keep and entry.is_file(follow_symlinks=False)]
    for entry in stale:
        Path(entry.path).unlink(missing_ok=True)
    return len({entry.name.rsplit("_", 1)[0] for entry in stale})


def _start_over(out_dir: Path, settings: dict[str, Any], labels: Labels) -> None:
    _remove_unlisted_pictures(out_dir, [])
    (out_dir / SUMMARY_JSON).unlink(missing_ok=True)
    _write_rows(out_dir, [], labels)
    atomic_write_text(out_dir / SETTINGS_JSON, json.dumps(settings, indent=2) + "\n")


def _write_rows(out_dir: Path, rows: list[PredictionRow], labels: Labels) -> None:
    with atomic_output(out_dir / RESULTS_CSV) as f:
        writer = csv.DictWriter(f, fieldnames=result_columns(labels), lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row_record(row, labels))


def _read_settings(out_dir: Path) -> dict[str, Any] | None:
    try:
        values = json.loads((out_dir / SETTINGS_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return values if isinstance(values, dict) else None


def source_of(out_dir: Path) -> str | list[str] | None:
    """What the folder's results.csv holds predictions of (None: it holds no row): the input recorded beside it;
    for a folder an earlier seglab wrote, its summary.json's input where that names it for certain (a split, or
    absolute paths), else UNKNOWN_SOURCE."""
    if not _has_rows(out_dir):
        return None
    recorded = (_read_settings(out_dir) or {}).get(SOURCE_KEY)
    if recorded is not None:
        return recorded
    try:
        summary = json.loads((out_dir / SUMMARY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    given = summary.get("input") if isinstance(summary, dict) else None
    if isinstance(given, str) and given.startswith("split:"):
        return given
    if isinstance(given, list) and given and all(isinstance(path, str) and os.path.isabs(path) for path in given):
        return [os.path.normpath(path) for path in given]
    return UNKNOWN_SOURCE


def _has_rows(out_dir: Path) -> bool:
    """Whether results.csv holds a whole row after its header (read raw: a row cut short is no row)."""
    try:
        with open(out_dir / RESULTS_CSV, "rb") as f:
            f.readline()
            row = f.readline()
    except OSError:
        return False
    return row.endswith(b"\n") and bool(row.strip())


def free_folder_name(predictions_dir: Path, base: str, source: str | list[str]) -> str:
    """`base`, or base-2, base-3... the first folder that is new, empty, or holds predictions of `source` already
    (a rerun resumes it): a default name never takes another input's results."""
    number = 1
    while True:
        name = base if number == 1 else f"{base}-{number}"
        if source_of(predictions_dir / name) in (None, source):
            return name
        number += 1


def described(source: str | list[str]) -> str:
    """A source as a user reads it: 'the test split', a path, or 'PATH and 3 more inputs'."""
    if source == UNKNOWN_SOURCE:
        return "an input an earlier seglab did not record"
    if isinstance(source, str):
        return f"the {source.removeprefix('split:')} split" if source.startswith("split:") else source
    if len(source) == 1:
        return source[0]
    return f"{source[0]} and {len(source) - 1:,} more input{'s' * (len(source) > 2)}"


def _plain(key: str) -> str:
    return {"checkpoint_bytes": "checkpoint", "checkpoint_mtime_ns": "checkpoint"}.get(key, key).replace("_", " ")


class ResultsAppender:
    """results.csv opened for appending: one row per finished image, flushed at once, so the file always lists
    exactly the images whose PNGs are whole."""

    def __init__(self, out_dir: Path, labels: Labels):
        self.labels = labels
        self.file = open(out_dir / RESULTS_CSV, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.writer = csv.DictWriter(self.file, fieldnames=result_columns(labels))

    def append(self, row: PredictionRow) -> None:
        self.writer.writerow(row_record(row, labels=self.labels))
        self.file.flush()

    def close(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
