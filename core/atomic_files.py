"""Write files so readers see the old content or the new, never half: a temp file in the same
folder, flushed to disk (unless the caller opts out), then os.replace'd over the target. A failure
leaves the old file."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread writes files
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()
FILE_MODE = 0o666 & ~UMASK  # what a plain open() gives: others on a shared machine can read a run
FOLDER_MODE = 0o777 & ~UMASK  # what a plain mkdir() gives


def staging_folder(parent: Path, prefix: str, suffix: str = "") -> Path:
    """A new folder in `parent` to build a folder in before renaming it into place, with the mode a plain mkdir()
    gives (tempfile.mkdtemp makes 0700: nobody else could open the renamed folder)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    folder.chmod(FOLDER_MODE | (folder.stat().st_mode & stat.S_ISGID))  # a group-shared parent's setgid bit stays
    return folder


@contextmanager
def atomic_output(path: Path, mode: str = "w", sync: bool = True) -> Iterator[IO]:
    """Open a temp file beside `path` for writing; on a clean exit it becomes `path`. `sync=False` skips the
    fsync: whole or old after a crash of the process, not after a power cut (progress lines, predicted PNGs)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, sync: bool = True) -> None:
    with atomic_output(path, sync=sync) as f:
        f.write(text)
