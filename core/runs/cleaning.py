"""`seglab clean`: the plan of what to delete from ended runs (last.pt, predictions, exports, temp files, best.pt
when asked) and which decoded-image caches no run reads any more, and its application; a live run is never touched.

What goes, run by run (a run is live while it is created, running or stalled with its process alive; it is skipped):
- checkpoints/last.pt of a finished or pruned run. A stopped, failed or interrupted run keeps it: `seglab train
  --resume` continues from it.
- export/ (ONNX and TorchScript files): made again from a checkpoint by `seglab export` or `predict --engine onnx`.
- temp files an atomic write left behind when its process was killed.
- Only from runs the user chose (named, or picked by --older-than): their predictions/ folders (with --older-than
  those unchanged for that long) and the best.pt of a finished or pruned run, unless keep_best.
config.json, events.jsonl, status.json, results.csv and curves.png always stay, so the run still lists and compares.
Anything written in the last RECENT_S seconds (a predict filling its folder) is kept as possibly in use.

Decoded-image caches (only when no run is named): a cache file is named by a hash of the files it was decoded from
(paths, sizes, mtimes), so it cannot say which dataset it holds. One is orphaned when no run in the runs folder
would read it today (its data changed or is gone, or no run uses it), no process on this host has it open or
mapped, and it was not written in the last RECENT_S seconds. Deleting one loses no data: it is decoded again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import SeglabError
from core.runs.disk_usage import TreeSize, tree_size
from core.runs.folders import Run, list_runs, open_run
from core.runs.status import LIVE_STATES, State

RECENT_S = 600.0  # written this recently, a file may be in use (a predict writing, a cache being filled): kept
DAY_S = 86400.0
ENDED_FOR_GOOD = (State.FINISHED, State.PRUNED)  # nothing resumes these: their last.pt is only a second model
CACHE_OWNER = "(cache)"  # the owner column of a decoded-image cache in the plan
SPLITS = ("train", "val", "test")  # the splits whose decoded caches a run (training, evaluate, predict) makes


@dataclass(frozen=True)
class Removal:
    """One file or folder the plan deletes."""

    path: Path
    what: str  # as the plan shows it: last.pt, best.pt, predictions/test, export/, a temp file's name, a cache's
    bytes: int
    files: int
    newest: float  # newest mtime inside it when planned: anything newer at removal time means it is in use again
    run: Path | None = None  # the run folder it belongs to; None for a decoded-image cache

    @property
    def owner(self) -> str:
        return self.run.name if self.run is not None else CACHE_OWNER


@dataclass(frozen=True)
class Note:
    """A run or cache entry left alone, and why."""

    owner: str
    text: str


@dataclass(frozen=True)
class CleanPlan:
    """What `apply_clean` deletes, what it leaves on purpose, and the runs it skips."""

    removals: tuple[Removal, ...] = ()
    skipped: tuple[Note, ...] = ()  # whole runs left alone: live ones, named ones newer than --older-than
    kept: tuple[Note, ...] = ()  # single things kept inside cleaned runs and the cache, and why
    chose_runs: bool = False  # runs named or picked by age: their predictions (and best.pt) are in the plan

    @property
    def bytes(self) -> int:
        return sum(removal.bytes for removal in self.removals)

    @property
    def files(self) -> int:
        return sum(removal.files for removal in self.removals)


@dataclass(frozen=True)
class CleanResult:
    """What was deleted, and the planned removals that were not (a run that came alive, a file in use, an error)."""

    removed: tuple[Removal, ...] = ()
    not_removed: tuple[Note, ...] = ()

    @property
    def bytes(self) -> int:
        return sum(removal.bytes for removal in self.removed)

    @property
    def files(self) -> int:
        return sum(removal.files for removal in self.removed)


def plan_clean(root: Path, refs: Sequence[str] = (), older_than_days: float | None = None, keep_best: bool = False,
               cache_dir: Path | None = None, now: float | None = None) -> CleanPlan:
    """The plan for `seglab clean [RUN...]` on the runs folder `root`; nothing is deleted.

    `refs` name runs as `open_run` finds them (an unknown one raises SeglabError); none means every run, and the
    orphaned decoded-image caches in `cache_dir` (default: the user cache's decoded/) too.
    """
    now = time.time() if now is None else now
    cutoff = None if older_than_days is None else now - older_than_days * DAY_S
    everyone = list_runs(root)
    runs = _unique([open_run(ref, root) for ref in refs]) if refs else everyone
    chose_runs = bool(refs) or cutoff is not None
    removals: list[Removal] = []
    skipped: list[Note] = []
    kept: list[Note] = []
    for run in runs:
        state = run.state()
        if state in LIVE_STATES:
            skipped.append(Note(run.name, live_reason(run, state)))
            continue
        if cutoff is not None:
            changed = last_changed(run)
            if changed > cutoff:
                if refs:
                    skipped.append(Note(run.name, f"last changed {_ago(now - changed)} ago, newer than "
                                                  f"--older-than {older_than_days:g} days"))
                continue
        removals += _run_removals(run, state, chose_runs, keep_best, cutoff, now, kept)
    if not refs:
        removals += orphaned_caches(everyone, cache_dir, cutoff, now, kept)
    return CleanPlan(tuple(removals), tuple(skipped), tuple(kept), chose_runs)


def apply_clean(plan: CleanPlan) -> CleanResult:
    """Delete what the plan lists, checking again just before: a run that became live since the plan, a file
    written since, or a cache a process has opened since, is left alone and reported."""
    removed: list[Removal] = []
    not_removed: list[Note] = []
    live: dict[Path, bool] = {}
    cache_folders = {removal.path.parent for removal in plan.removals if removal.run is None}
    caches_open: set[str] | None = set()
    for folder in cache_folders:
        opened = paths_open_under(folder)
        caches_open = None if opened is None or caches_open is None else caches_open | opened
    for removal in plan.removals:
        if removal.run is not None:
            if removal.run not in live:
                live[removal.run] = Run(removal.run).state() in LIVE_STATES
            if live[removal.run]:
                not_removed.append(Note(removal.owner, f"{removal.what}: kept, the run is live again"))
                continue
        elif caches_open is None or str(removal.path) in caches_open:
            not_removed.append(Note(removal.owner, f"{removal.what}: kept, a process opened it since the plan"))
            continue
        if tree_size(removal.path).newest > removal.newest:
            not_removed.append(Note(removal.owner, f"{removal.what}: kept, written since the plan"))
            continue
        try:
            if removal.path.is_dir() and not removal.path.is_symlink():
                shutil.rmtree(removal.path)
            else:
                removal.path.unlink(missing_ok=True)
        except OSError as error:
            not_removed.append(Note(removal.owner, f"{removal.what}: {error.strerror or error}"))
        else:
            removed.append(removal)
    return CleanResult(tuple(removed), tuple(not_removed))


def live_reason(run: Run, state: str) -> str:
    """Why a live run is skipped, naming its process."""
    status = run.read_status()
    process = f" (pid {status.pid} on {status.host})" if status.pid else ""
    return f"{state}{process}: a live run's files are never touched"


def last_changed(run: Run) -> float:
    """When the run last wrote its status or an event (mtimes; 0 when neither exists)."""
    times = []
    for path in (run.status_path, run.events_path, run.config_path):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def _run_removals(run: Run, state: str, chose_runs: bool, keep_best: bool, cutoff: float | None, now: float,
                  kept: list[Note]) -> list[Removal]:
    found: list[Removal] = []

    def take(path: Path, what: str, measured: TreeSize | None = None) -> None:
        measured = measured or tree_size(path)
        if now - measured.newest < RECENT_S:
            kept.append(Note(run.name, f"{what}: written {_ago(now - measured.newest)} ago, may be in use"))
            return
        found.append(Removal(path, what, measured.bytes, measured.files, measured.newest, run.path))

    last, best = run.checkpoint_path("last"), run.checkpoint_path("best")
    if last.is_file():
        if state in ENDED_FOR_GOOD:
            take(last, "last.pt")
        else:
            kept.append(Note(run.name, f"last.pt: the run is {state}; `seglab train --resume` continues from it"))
    if best.is_file() and chose_runs and state in ENDED_FOR_GOOD and not keep_best:
        take(best, "best.pt")
    if chose_runs and run.predictions_dir.is_dir():
        for folder in sorted(run.predictions_dir.iterdir()):
            measured = tree_size(folder)
            if cutoff is None or measured.newest <= cutoff:
                take(folder, f"predictions/{folder.name}", measured=measured)
    exports = run.path / "export"
    if exports.is_dir() and any(exports.iterdir()):
        take(exports, "export/")
    for path in run.temp_files():
        take(path, f"temp file {path.relative_to(run.path)}")
    return found


def orphaned_caches(runs: Iterable[Run], cache_dir: Path | None, cutoff: float | None, now: float,
                    kept: list[Note]) -> list[Removal]:
    """Decoded-image cache files in `cache_dir` that no run of `runs` reads with its data as it is now, that no
    process here has open, written neither in the last RECENT_S seconds nor (with a cutoff) after it."""
    if cache_dir is None:
        from core.run_data import cache_root

        cache_dir = cache_root() / "decoded"
    try:
        entries = sorted(((entry.name, entry.stat(follow_symlinks=False)) for entry in os.scandir(cache_dir)
                          if entry.is_file(follow_symlinks=False)), key=lambda named: named[0])
    except OSError:
        return []
    if not entries:
        return []
    opened = paths_open_under(cache_dir)
    if opened is None:
        kept.append(Note(CACHE_OWNER, "decoded-image caches left alone: no /proc here to tell which ones running "
                                      "processes use"))
        return []
    wanted = cache_names_of(runs)
    found = []
    for name, stat in entries:
        path = Path(cache_dir) / name
        if name in wanted or (cutoff is not None and stat.st_mtime > cutoff):
            continue
        if str(path) in opened:
            kept.append(Note(CACHE_OWNER, f"{name}: open in a running process"))
        elif now - stat.st_mtime < RECENT_S:
            kept.append(Note(CACHE_OWNER, f"{name}: written {_ago(now - stat.st_mtime)} ago, may be in use"))
        else:
            found.append(Removal(path, f"decoded cache {name}", stat.st_size, 1, stat.st_mtime))
    return found


def cache_names_of(runs: Iterable[Run]) -> set[str]:
    """The decoded-cache file names the runs would read today: each split of each run's data at its image size,
    named as core.data.cache_files names them. A run whose data is gone or unreadable names none."""
    from core.config import SYNTHETIC
    from core.data.cache_files import cache_file_path
    from core.run_data import run_labels, split_samples, synthetic_folder

    names: set[str] = set()
    seen: set[tuple] = set()
    for run in runs:
        try:
            config = run.load_config()
            what = (config.data, config.image_size, config.val_fraction, config.seed, config.task, config.classes,
                    config.ignore_index, config.synthetic_count, config.synthetic_size)
            if what in seen:
                continue
            seen.add(what)
            if config.data == SYNTHETIC and not synthetic_folder(config).is_dir():
                continue  # generated again, its files would have new mtimes: no old cache matches
            labels_key = run_labels(config).cache_key()
        except (SeglabError, OSError, ValueError):
            continue
        for split in SPLITS:
            try:
                samples = split_samples(config, split)
            except (SeglabError, OSError, ValueError):
                continue
            names.add(cache_file_path(samples, config.image_size, Path(), labels_key).name)
    return names


def paths_open_under(folder: Path) -> set[str] | None:
    """Paths under `folder` that a process of this host (one we may inspect) has memory-mapped or open, from
    /proc; None where there is no /proc to ask."""
    proc = Path("/proc")
    if not (proc / "self" / "maps").exists():
        return None
    prefix = os.path.join(os.path.realpath(folder), "")
    found: set[str] = set()
    for process in proc.iterdir():
        if not process.name.isdigit():
            continue
        try:
            maps = (process / "maps").read_text(errors="replace")
        except OSError:
            continue
        for line in maps.splitlines():
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith(prefix):
                found.add(parts[5].removesuffix(" (deleted)"))
        try:
            descriptors = list((process / "fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith(prefix):
                found.add(target)
    # The plan compares these with paths under `folder` as given: map the resolved prefix back.
    given = os.path.join(os.fspath(folder), "")
    return found | {given + path[len(prefix):] for path in found}


def _unique(runs: list[Run]) -> list[Run]:
    seen: set[Path] = set()
    unique = []
    for run in runs:
        key = run.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(run)
    return unique


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY_S:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / DAY_S:.0f} days"
