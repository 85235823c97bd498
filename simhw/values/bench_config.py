"""The bench description file (TOML): board and VNA resources, SIM geometry, sweep, simulation.

The same file describes a real bench and a simulated one; ``"sim"`` as a resource means "start
the embedded simulated device". Unknown keys and bad values are errors naming the key::

    name = "lab-bench"

    [geometry]            # the SIM as designed
    layers = 4
    rows = 6
    cols = 6
    bits = 2
    frequency = 28e9      # design carrier, Hz (sets the lambda/2 pitch)
    thickness = 0.01      # T_SIM, m
    receive_ports = 2     # receive antennas behind the last layer = VNA ports 2..
    input_distance = 0.05 # test antenna (VNA port 1) to layer 1, m
    output_distance = 0.005

    [sweep]
    start = 27.5e9
    stop = 28.5e9
    points = 11
    ifbw = 10e3
    power = -10.0

    [board]
    protocol = "smp"      # "smp" or "open-ris" (one URL per layer)
    urls = ["sim"]        # pyserial URLs, or "sim"
    baudrate = 921600

    [vna]
    family = "keysight"   # "keysight" or "rs"
    resource = "sim"      # a VISA resource string, or "sim"

    [simulation]          # only for "sim" resources
    seed = 1
    error_scale = 1.0     # x the fabrication error bounds of [3] Interlayer error calibration
    transport = "pty"     # how the simulated board is served: "pty", "tcp" or "inproc"
    noise = true
    coupling = 0.0
    phase_noise = 0.0
    phase_dependent_amplitude = false
    drift_k_per_hour = 0.0
    clock_speed = 1.0
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simhw.values.bench_choices import check_choices
from simhw.values.bench_limits import check_ranges, check_simulated_size, vna_limits
from simhw.values.bench_sections import (
    _SECTIONS,
    BenchConfigError,
    BoardSection,
    CalibrationSection,
    DaemonSection,
    GeometrySection,
    LabSection,
    SimulationSection,
    SweepSection,
    VNASection,
)

__all__ = [
    "BenchConfig",
    "GeometrySection",
    "SweepSection",
    "BoardSection",
    "VNASection",
    "SimulationSection",
    "BenchConfigError",
]


#: Bench-file presets (``preset = "..."`` at the top of a bench file): section values a file starts
#: from before its own keys apply. "ideal": the SIM model family and nothing else (every knob off).
#: "realistic": the multiport network truth with internal reflections and coupling, the impairments,
#: and what a real bench adds (sim_backend/bench_effects.py) at the typical magnitudes documented there.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "ideal": {},
    "realistic": {
        "sweep": {"points": 5},
        "simulation": {
            "truth_model": "multiport",
            "reflection": 0.1,
            "port_coupling": 0.02,
            "coupling": 0.05,
            "phase_noise": 0.02,
            "phase_dependent_amplitude": True,
            "multipath": 0.1,
            "multipath_delay_ns": 3.0,  # -20 dB, 90 cm of excess path
            "cable_ppm_per_k": 50.0,
            "cable_delay_ns": 5.0,  # PTFE coax, about 1 m
            "leakage": 0.01,
            "leakage_delay_ns": 0.5,  # -40 dB around the SIM
            "code_spread": 0.1,  # about 6 degrees per atom and code
            "horn_q": 15.0,  # 15 dBi horns
            "vna_residual_directivity": 0.01,
            "vna_residual_match": 0.018,
            "vna_residual_tracking_db": 0.05,
        },
        "calibration": {"receivers": "free", "slots": 120},  # free receivers and per-atom terms need pilots
    },
}


@dataclass
class BenchConfig:
    name: str = "bench"
    geometry: GeometrySection = field(default_factory=GeometrySection)
    sweep: SweepSection = field(default_factory=SweepSection)
    board: BoardSection = field(default_factory=BoardSection)
    vna: VNASection = field(default_factory=VNASection)
    simulation: SimulationSection = field(default_factory=SimulationSection)
    calibration: CalibrationSection = field(default_factory=CalibrationSection)
    daemon: DaemonSection = field(default_factory=DaemonSection)
    lab: LabSection = field(default_factory=LabSection)
    path: str | None = None
    preset: str = "ideal"

    @classmethod
    def named(cls, preset: str, name: str | None = None) -> BenchConfig:
        """The bench a preset describes (``PRESETS``), with nothing else changed."""
        return cls.from_dict({"preset": preset, "name": name or preset})

    @classmethod
    def from_dict(cls, doc: dict, path: str | None = None) -> BenchConfig:
        doc = dict(doc)
        preset = doc.pop("preset", "ideal")
        if preset not in PRESETS:
            raise BenchConfigError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
        for section, values in PRESETS[preset].items():
            given = doc.get(section, {})
            if not isinstance(given, dict):
                raise BenchConfigError(f"[{section}] must be a table")
            doc[section] = {**values, **given}  # the file's own keys win
        kwargs = {"name": doc.pop("name", "bench"), "path": path, "preset": preset}
        if not isinstance(kwargs["name"], str):
            raise BenchConfigError("'name' must be a string")
        for key, value in doc.items():
            if key not in _SECTIONS:
                raise BenchConfigError(f"unknown section [{key}]; known: {sorted(_SECTIONS)} and 'name'")
            kwargs[key] = _section(key, _SECTIONS[key], value)
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    @classmethod
    def from_toml(cls, text: str) -> BenchConfig:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise BenchConfigError(f"not valid TOML ({exc})") from None
        return cls.from_dict(doc)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BenchConfig:
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise BenchConfigError(f"{path}: not valid TOML ({exc})") from None
        return cls.from_dict(doc, os.fspath(path))

    def validate(self) -> None:
        """Every key in its range (:mod:`simhw.values.bench_limits`), then the choices and the relations
        between keys; the first fault found is raised, naming its key."""
        g, s, b, v, sim = self.geometry, self.sweep, self.board, self.vna, self.simulation
        check_choices(self, BenchConfigError)
        if v.model and vna_limits(self) is None:
            raise BenchConfigError(f"vna.model = {v.model!r} is not a VNA model simhw knows")
        check_ranges(self, BenchConfigError)
        if g.rows * g.cols > 65535:
            raise BenchConfigError(
                f"geometry.rows x geometry.cols = {g.rows * g.cols} atoms per layer; the SMP WRITE "
                "offset is 16 bits (at most 65535)"
            )
        if self.simulated:
            check_simulated_size(self, BenchConfigError)
        if not s.start <= s.stop:
            raise BenchConfigError(f"sweep.start = {s.start:g} must be <= sweep.stop = {s.stop:g}")
        if not b.urls:
            raise BenchConfigError("board.urls must name at least one board")
        if b.protocol == "open-ris" and (g.rows, g.cols, g.bits) != (16, 16, 1):
            raise BenchConfigError(
                "board.protocol 'open-ris' drives 16x16 1-bit layers: set geometry rows = cols = 16, bits = 1"
            )
        if b.protocol == "open-ris" and len(b.urls) != g.layers:
            raise BenchConfigError("board.protocol 'open-ris' needs one URL per layer in board.urls")
        rx = list(v.receive_port_map)
        if rx and (
            len(rx) != g.receive_ports
            or len(set(rx)) != len(rx)
            or any(not isinstance(p, int) or isinstance(p, bool) or not 1 <= p <= 4 for p in rx)
        ):
            raise BenchConfigError(f"vna.receive_port_map must list {g.receive_ports} distinct VNA ports (1..4)")
        if v.source_port in self.receive_vna_ports():  # the map's ports, or the default 2, 3, ..
            raise BenchConfigError(
                f"vna.source_port = {v.source_port} is also a receive port "
                f"{list(self.receive_vna_ports())}: wire the receive antennas elsewhere with "
                "vna.receive_port_map"
            )
        if sim.vna_interface == "vxi11" and not sim.vna_vxi11:
            raise BenchConfigError("simulation.vna_interface 'vxi11' needs simulation.vna_vxi11 = true")
        if not self.daemon.bind:
            raise BenchConfigError("daemon.bind must name at least one endpoint")

    @property
    def simulated(self) -> bool:
        return self.vna.resource == "sim" or "sim" in self.board.urls

    def receive_vna_ports(self) -> tuple[int, ...]:
        """The VNA port each receive antenna is wired to (``vna.receive_port_map``, or 2, 3, ..)."""
        rx = self.vna.receive_port_map
        return tuple(rx) if rx else tuple(range(2, 2 + self.geometry.receive_ports))

    def vna_params(self) -> tuple[str, ...]:
        """The S-parameters simhw measures: receive port p from the source port."""
        return tuple(f"S{p}{self.vna.source_port}" for p in self.receive_vna_ports())

    def frequencies(self):
        return np.linspace(self.sweep.start, self.sweep.stop, self.sweep.points)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name}
        for key in _SECTIONS:
            out[key] = dataclasses.asdict(getattr(self, key))
        return out

    def to_toml(self) -> str:
        lines = [f"name = {_toml_value(self.name)}", f"preset = {_toml_value(self.preset)}", ""]
        for key in _SECTIONS:
            lines.append(f"[{key}]")
            for k, v in dataclasses.asdict(getattr(self, key)).items():
                lines.append(f"{k} = {_toml_value(v)}")
            lines.append("")
        return "\n".join(lines)


def _section(name: str, cls, value) -> object:
    if not isinstance(value, dict):
        raise BenchConfigError(f"[{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    out = {}
    for k, v in value.items():
        if k not in fields:
            raise BenchConfigError(f"unknown key {name}.{k}; known: {sorted(fields)}")
        want = type(getattr(defaults, k))
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise BenchConfigError(f"{name}.{k} must be {want.__name__}, got {type(v).__name__} {v!r}")
        if want is float and not math.isfinite(v):
            raise BenchConfigError(f"{name}.{k} = {v!r}: must be a finite number")
        out[k] = v
    return cls(**out)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)
