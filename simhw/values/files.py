"""Writing result files so that a reader never sees half of one; reading a folder of numbered migrations."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["migration_files", "write_atomic"]


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> str:
    """Write ``path`` through ``write(file)``: into a temporary file beside it (named per process, so
    concurrent writers do not collide), synced, then renamed over ``path``. A reader finds the old file or
    the new one; the temporary file goes whatever fails. Returns the path."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def migration_files(folder: Path) -> dict[int, str]:
    """The migrations in ``folder``, one file per schema version (``0001.sql``, ``0002.sql``, ..): version -> SQL."""
    files = {int(p.stem): p.read_text() for p in folder.glob("[0-9][0-9][0-9][0-9].sql")}
    if sorted(files) != list(range(1, len(files) + 1)):
        raise RuntimeError(f"migrations in {folder} are not numbered 1..N: {sorted(files)}")
    return files
