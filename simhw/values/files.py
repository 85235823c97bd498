"""Writing result files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["write_atomic"]


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
