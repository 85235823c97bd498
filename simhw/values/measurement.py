"""One measurement, the type every layer hands on: from the bench's sweep to the store, the
client, the lab, the dashboard and the exported files.

A :class:`Measurement` is one sweep of the SIM under one configuration: the frequencies, the
measured S-parameters S(p, source) from the test antenna's VNA port (``source_port``) to each
receive port p, named as the bench names them (``vna.receive_port_map``, or 2, 3, ..), the
configuration label (``config_hash``; None: unknown) and its ``flag`` (None: the last verified push;
else why the label is the board's readback or unknown), the board's latch report when it was
taken, the instrument settings and correction state, and the time. ``to_touchstone`` writes a
standard ``.sNp`` file (Touchstone 1.1, RI format) that scikit-rf and any RF tool read; entries
that were not measured are written as 0 and listed in a comment.

A measurement's record has the columns of its description (:mod:`simhw.values.records`):
:data:`RECORD_FIELDS` is derived from it, and each field is one attribute here. Records (the
store's rows, a reply's header, the lab's rows) name the measured parameters
``S<receive><source>``; :meth:`Measurement.from_record` reads ports back from those names, the
one rule for every consumer.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from simhw.values.records import record

__all__ = ["Measurement", "RECORD_FIELDS", "parse_param"]

_MEASUREMENTS = record("measurement")
# stored beside the header: the arrays, and the shape of s
_BESIDE = (*(c.name for c in _MEASUREMENTS.columns if c.type == "array"), "shape")
# the header fields of a measurement record: its described columns but the arrays, ``id`` as ``measurement``
RECORD_FIELDS = tuple("measurement" if n == "id" else n for n in _MEASUREMENTS.names if n not in _BESIDE)
# record field -> attribute, where they differ; fields derived from other attributes are not set from a record
_ATTRIBUTE = {"measurement": "id", "hash": "config_hash"}
_DERIVED = ("params",)
_PARAM = re.compile(r"^S(\d)(\d)$")


def parse_param(name: str) -> tuple[int, int]:
    """(receive port, source port) of an S-parameter named ``S<receive><source>`` (VNA ports 1..9)."""
    m = _PARAM.match(str(name))
    if m is None:
        raise ValueError(f"not an S-parameter name S<receive><source>: {name!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass
class Measurement:
    config_hash: str | None
    frequencies: np.ndarray  # (F,) Hz
    s: np.ndarray  # (F, P) complex: column p is S(receive_ports[p], source_port)
    receive_ports: tuple = (2,)
    created_at: float = field(default_factory=time.time)  # seconds since the epoch
    settings: dict = field(default_factory=dict)  # the instrument's state for the sweep (correction, cal set, ..)
    source_port: int = 1
    flag: str | None = None  # why the label is not the last verified push (None: it is)
    latched: dict | None = None  # the board's latch report when the sweep started (crc, boot_id, latches)
    id: int | None = None  # its store id, once stored
    snapshot: int | None = None  # the bench description and software it was taken with (store id)
    push: dict | None = None  # push-and-measure: the acknowledgement of the push before the sweep
    temperature_k: float | None = None  # the bench's (board's) temperature read after the sweep, when it reports one

    def __post_init__(self):
        self.frequencies = np.asarray(self.frequencies, float).reshape(-1)
        self.s = np.asarray(self.s, complex)
        if self.s.ndim == 1:
            self.s = self.s[:, None]
        self.receive_ports = tuple(int(p) for p in self.receive_ports)
        if self.s.shape != (self.frequencies.size, len(self.receive_ports)):
            raise ValueError(
                f"s must have shape (F, P) = ({self.frequencies.size}, {len(self.receive_ports)}), got {self.s.shape}"
            )
        if self.source_port in self.receive_ports:
            raise ValueError(f"source port {self.source_port} is also a receive port {self.receive_ports}")

    @property
    def params(self) -> tuple[str, ...]:
        """The measured S-parameters, one per column of ``s``: ``S<receive><source>``."""
        return tuple(f"S{p}{self.source_port}" for p in self.receive_ports)

    @property
    def timestamp(self) -> str:
        return _dt.datetime.fromtimestamp(self.created_at, _dt.UTC).isoformat()

    @property
    def n_ports(self) -> int:
        return max(*self.receive_ports, self.source_port)

    def record(self) -> dict:
        """The header fields of its record (:data:`RECORD_FIELDS`), JSON-ready; the arrays go beside it."""
        out = {name: getattr(self, _ATTRIBUTE.get(name, name)) for name in RECORD_FIELDS}
        return {**out, "params": list(out["params"]), "settings": dict(out["settings"] or {})}

    def row(self) -> dict:
        """Its store row: the record's header fields but the id, its arrays and the shape of ``s``."""
        head = {k: v for k, v in self.record().items() if k != "measurement"}
        return {**head, "frequencies": self.frequencies, "s": self.s, "shape": list(self.s.shape)}

    @classmethod
    def from_record(cls, record: dict, frequencies, s) -> Measurement:
        """A measurement from a record's header fields (a store row, a reply, a lab row: ``measurement`` or
        ``id`` is its store id) and its arrays; the ports come from the parameter names."""
        ports = [parse_param(p) for p in record["params"]]
        sources = {src for _, src in ports}
        if len(sources) != 1:
            raise ValueError(f"a measurement has one source port; parameters {record['params']} name {sorted(sources)}")
        fields: dict[str, Any] = {_ATTRIBUTE.get(n, n): record.get(n) for n in RECORD_FIELDS if n not in _DERIVED}
        fields["created_at"] = float(record.get("created_at") or time.time())
        fields["settings"] = dict(record.get("settings") or {})
        fields["id"] = record.get("measurement", record.get("id"))
        receive = tuple(rx for rx, _ in ports)
        return cls(frequencies=frequencies, s=s, receive_ports=receive, source_port=sources.pop(), **fields)

    def s_matrix(self) -> np.ndarray:
        """(F, n, n) with the measured S(p, source) and, by reciprocity, S(source, p); the rest 0."""
        n, src = self.n_ports, self.source_port - 1
        out = np.zeros((self.frequencies.size, n, n), complex)
        for k, p in enumerate(self.receive_ports):
            out[:, p - 1, src] = self.s[:, k]
            out[:, src, p - 1] = self.s[:, k]
        return out

    def to_touchstone(self, path: str | os.PathLike) -> str:
        """Write ``path`` (extension .s<n>p is added if missing); returns the path written."""
        n = self.n_ports
        path = os.fspath(path)
        if not path.lower().endswith(f".s{n}p"):
            path += f".s{n}p"
        s = self.s_matrix()
        src = self.source_port
        lines = [
            f"! simhw measurement of config {self.config_hash or 'unknown'}",
            f"! timestamp {self.timestamp}",
            "! measured: " + ", ".join(self.params) + f" (S{src}p by reciprocity; others 0)",
        ]
        if self.id is not None:
            lines.append(f"! measurement = {self.id}")
        if self.flag:
            lines.append(f"! flag {self.flag}")
        lines += [f"! {k} = {v}" for k, v in sorted(self.settings.items())]
        lines.append("# HZ S RI R 50")
        for f, m in zip(self.frequencies, s):
            # Touchstone 1.1: 2-port data is column-major (S11 S21 S12 S22); other sizes row by row
            order = m.T.reshape(-1) if n == 2 else m.reshape(-1)
            vals = [f"{x:.12e}" for c in order for x in (c.real, c.imag)]
            if n <= 2:
                lines.append(f"{f:.6f} " + " ".join(vals))
            else:
                for row in range(n):
                    chunk = vals[2 * n * row : 2 * n * (row + 1)]
                    for i in range(0, len(chunk), 8):
                        prefix = f"{f:.6f} " if row == 0 and i == 0 else "  "
                        lines.append(prefix + " ".join(chunk[i : i + 8]))
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return path


def _check_attributes() -> None:
    """Every described column of a measurement record is carried by a :class:`Measurement` attribute."""
    have = {f.name for f in fields(Measurement)} | {n for n, v in vars(Measurement).items() if isinstance(v, property)}
    missing = [n for n in RECORD_FIELDS if _ATTRIBUTE.get(n, n) not in have]
    if missing:
        raise TypeError(f"the measurement record describes {missing} but Measurement carries no such attribute")


_check_attributes()
