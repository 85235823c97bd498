"""Reading a MATLAB file's variables with checks: every refusal is a ValueError that names the file, the
variable and what was expected (used by :mod:`simhw.integrations.matlab`).

A file from elsewhere may hold anything under a name simhw reads: a struct where JSON text belongs, a
cell where a matrix does, numbers no integer type holds. :class:`MatFile` loads it once and reads each
variable as the layout says it must be, so nothing reaches simhw's types unchecked.
"""

from __future__ import annotations

import json
import os

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

__all__ = ["MatFile", "WHOLE_MAX"]

WHOLE_MAX = 2**53  # whole numbers beyond this are not exact in double precision, MATLAB's default


def describe(a) -> str:
    """What a MATLAB value is, for an error message."""
    a = np.asarray(a)
    if a.dtype == object:
        return f"a {'x'.join(map(str, a.shape))} cell array"
    if a.dtype.kind == "V":
        return "a struct"
    if a.dtype.kind == "U":
        return "text"
    return f"a {'x'.join(map(str, a.shape))} array of {a.dtype}"


class MatFile:
    """The variables of one .mat file (version 5), read by name with checks."""

    def __init__(self, path, kind: str | None = None):
        """``kind``: the simhw kind the file must hold if it says which ('configs', 'measurement', 'model')."""
        self.path = os.fspath(path)
        try:
            self.vars = scipy.io.loadmat(self.path, chars_as_strings=True)
        except (OSError, ValueError, NotImplementedError, TypeError, MatReadError) as e:
            raise ValueError(f"{self.path} is not a readable MATLAB file: {e}") from None
        found = self.text("kind") if "kind" in self else None
        if kind is not None and found is not None and found != kind:
            raise ValueError(f"{self.path} holds a simhw {found}, not a {kind}")

    def __contains__(self, name: str) -> bool:
        return name in self.vars

    def error(self, name: str, expected: str, value=None, index: int | None = None) -> ValueError:
        where = f"'{name}'" if index is None else f"'{name}' entry {index + 1}"
        got = "" if value is None else f", got {describe(value)}"
        return ValueError(f"{self.path}: {where} must be {expected}{got}")

    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self]
        if missing:
            raise ValueError(f"{self.path}: no {', '.join(repr(n) for n in missing)} variable")

    # ------------------------------------------------------------------ text
    def text(self, name: str, value=None, index: int | None = None) -> str:
        """A char array (or a cell holding one) as a string."""
        a = np.asarray(self.vars[name] if value is None else value)
        if a.dtype == object and a.size == 1:
            a = np.asarray(a.ravel()[0])
        if a.dtype.kind != "U":
            raise self.error(name, "text", a, index)
        return "".join(a.ravel().tolist())

    def texts(self, name: str) -> list[str]:
        """A cell array of char arrays (column-major), or one char array, as strings."""
        a = np.asarray(self.vars[name])
        if a.dtype != object:
            return [self.text(name)]
        return [self.text(name, x, i) for i, x in enumerate(a.ravel(order="F"))]

    def json(self, name: str, text: str, index: int | None = None, expected: str = "a JSON object"):
        """JSON text (as MATLAB's jsonencode writes it) decoded; must be an object."""
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise self.error(name, f"{expected} (JSON text): {str(e)[:120]}", index=index) from None
        if not isinstance(doc, dict):
            raise ValueError(
                f"{self.path}: {repr(name) if index is None else f'{name!r} entry {index + 1}'} "
                f"must be {expected}, got JSON {type(doc).__name__}"
            )
        return doc

    # ------------------------------------------------------------------ numbers
    def numbers(self, name: str, dtype=float) -> np.ndarray:
        """A numeric array as ``dtype`` (float: real numbers; complex: real or complex; None: as stored)."""
        a = np.asarray(self.vars[name])
        kinds = "biuf" if dtype is float else "biufc"
        if a.dtype.kind not in kinds:
            raise self.error(name, "a numeric array" + (" of real numbers" if kinds == "biuf" else ""), a)
        return a if dtype is None else a.astype(dtype)

    def whole(self, name: str, value=None) -> np.ndarray:
        """A numeric array of whole numbers (integer types, or doubles holding whole values) as int64."""
        a = np.asarray(self.vars[name] if value is None else value)
        expected = "whole numbers of magnitude below 2^53"
        if a.dtype.kind not in "biuf":
            raise self.error(name, f"numeric ({expected})", a)
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise self.error(name, f"{expected}, not fractions, NaN or Inf")
        if a.size and float(np.max(np.abs(a.astype(float)))) >= WHOLE_MAX:
            raise self.error(name, f"{expected}; found {float(np.max(np.abs(a.astype(float)))):g}")
        return a.astype(np.int64)
