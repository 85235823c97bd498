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

from simhw.physics.geometry import SPEED_OF_LIGHT, AntennaArray, SimGeometry
from simhw.values.bench_choices import check_choices
from simhw.values.bench_limits import check_ranges, check_simulated_size, vna_limits

__all__ = [
    "BenchConfig",
    "GeometrySection",
    "SweepSection",
    "BoardSection",
    "VNASection",
    "SimulationSection",
    "BenchConfigError",
]


class BenchConfigError(ValueError):
    """The bench description is not valid; the message names the key."""


@dataclass
class GeometrySection:
    layers: int = 4
    rows: int = 6
    cols: int = 6
    bits: int = 2
    frequency: float = 28e9
    thickness: float = 0.01
    receive_ports: int = 2
    input_distance: float = 0.05
    output_distance: float = 0.005

    def build(self, frequencies=None) -> SimGeometry:
        lam = SPEED_OF_LIGHT / self.frequency
        area = (lam / 2) ** 2
        spacing = self.thickness / (self.layers - 1) if self.layers > 1 else self.thickness
        z_last = self.input_distance + spacing * (self.layers - 1)
        inp = AntennaArray.point((0.0, 0.0, 0.0), area)
        out = AntennaArray.linear(self.receive_ports, lam / 2, z_last + self.output_distance, area)
        return SimGeometry.uniform(
            self.layers,
            self.rows,
            self.cols,
            self.frequency,
            self.thickness,
            frequencies=frequencies,
            input_antennas=inp,
            output_antennas=out,
            input_distance=self.input_distance,
            output_distance=self.output_distance,
        )


@dataclass
class SweepSection:
    start: float = 27.5e9
    stop: float = 28.5e9
    points: int = 11
    ifbw: float = 10e3
    power: float = -10.0


@dataclass
class BoardSection:
    protocol: str = "smp"
    urls: list = field(default_factory=lambda: ["sim"])
    baudrate: int = 921600
    uart_baudrate: int = 0  # a socket:// bridge to a UART (ser2net-style): the UART's rate paces the link; 0: none
    timeout: float = 0.0  # seconds to wait for a reply (plus the bytes' time on the wire); 0: the driver's default
    retries: int = -1  # resends of an unanswered request before a timeout is reported; -1: the driver's default


@dataclass
class VNASection:
    family: str = "keysight"  # "keysight" (PNA/PNA-X), "ena" (ENA, E5080, Copper Mountain) or "rs" (ZNB/ZNA/ZVA)
    resource: str = "sim"
    model: str = ""  # e.g. N5227B, E5080B, ZNA43; "": the family's default; checked against *IDN?
    timeout: float = 0.0  # seconds per I/O (the sweep time is added to sweeps); 0: the driver's default
    channel: int = 1  # the instrument channel simhw measures on
    receive_port_map: list = field(default_factory=list)  # VNA port of each receive antenna; []: ports 2, 3, ..
    source_port: int = 1  # the VNA port driving the test antenna
    backend: str = "@py"  # pyvisa backend: "@py" (pyvisa-py) or "@ivi" (the system VISA library)
    preset: bool = False  # preset the instrument when simhw opens it
    cal_set: str = ""  # the cal set simhw turns on; "": leave the instrument's correction as it is
    averaging: int = 0  # sweeps averaged per measurement; 0: averaging off


@dataclass
class SimulationSection:
    seed: int = 1
    error_scale: float = 1.0
    transport: str = "pty"
    noise: bool = True
    coupling: float = 0.0
    phase_noise: float = 0.0
    phase_dependent_amplitude: bool = False
    drift_k_per_hour: float = 0.0
    clock_speed: float = 1.0
    fault_seed: int = -1  # seed of the injected faults below; -1: fresh at every start (a restarted bench differs)
    byte_errors: float = 0.0  # probability that a byte on the board link is dropped or has a bit flipped
    board_resets_per_hour: float = 0.0  # spontaneous board resets (all patterns lost)
    vna_stalls_per_hour: float = 0.0  # the VNA's *OPC? goes silent past the driver's timeout
    vna_drops_per_hour: float = 0.0  # the VNA closes every connection
    clock_jumps_per_hour: float = 0.0  # simulated time jumps by -10 min .. +60 min
    truth_model: str = "cascade"  # or "multiport": the network model with internal reflections
    reflection: float = 0.0  # multiport: what every internal port reflects
    port_coupling: float = 0.0  # multiport: alpha of the coupling between ports of one face
    latch_log: str = ""  # a file every simulated SMP board appends "boot_id crc latch_count" to at each latch
    vna_interface: str = "socket"  # the resource a resolved bench file names: "socket", "hislip" or "vxi11"
    vna_vxi11: bool = False  # also serve VXI-11 (needs the portmapper port 111)
    vna_cal_sets: list = field(default_factory=lambda: ["simhw"])  # cal sets the simulated VNA holds
    vna_raw_error: float = 0.0  # the simulated VNA's uncorrected directivity/tracking error (0: ideal receivers)
    # what a real bench adds (sim_backend/bench_effects.py: physics and typical magnitudes); 0: off
    multipath: float = 0.0  # a room/mount reflection, relative to the line-of-sight amplitude
    multipath_delay_ns: float = 3.0  # its excess delay over the line of sight
    cable_ppm_per_k: float = 0.0  # the cables' electrical-length change per kelvin (ppm/K, magnitude)
    cable_delay_ns: float = 5.0  # the cables' electrical length
    leakage: float = 0.0  # feed-to-receive coupling around the SIM, relative to the line of sight
    leakage_delay_ns: float = 0.5  # its delay beyond the line of sight
    code_spread: float = 0.0  # rad: each atom's own phase error per code
    horn_q: float = 0.0  # the cos^q pattern of the feed and receive horns (15 dBi: q ~ 15)
    vna_residual_directivity: float = 0.0  # |e_d| left after the VNA's calibration (0.01 = -40 dB)
    vna_residual_match: float = 0.0  # |e_s| = |e_l| left after calibration (0.018 = -35 dB)
    vna_residual_tracking_db: float = 0.0  # transmission tracking left after calibration, dB


@dataclass
class CalibrationSection:
    """What the daemon's scheduler runs (protocols and estimators of the ``calibration`` package)."""

    parameterization: str = "auto"  # a family, or "auto": every family fitted, the validation set chooses
    atom_gains: bool = False  # hybrid: also fit a complex gain per atom (tracks per-atom thermal phase drift)
    estimator: str = "gradient"
    stages: int = 3
    slots: int = 60
    heldout: int = 30
    period_s: float = 0.0  # periodic calibration every period_s seconds of bench time (0: off)
    check_every_s: float = 0.0  # state-driven monitoring interval (0: off)
    residual_db: float = 0.0  # prediction-residual rise that triggers a recalibration (0: from the model's uncertainty)
    power_db: float = 0.0  # received-power change that triggers one (0: from the model's uncertainty)
    receivers: str = "gain"  # receive terms fitted per frequency: gain, port (gain + leakage per port), free
    residual: bool = True  # the residual stage after the last stage (kept only if it lowers held-out NMSE)
    temperature_k: float = 0.0  # board-temperature change that triggers one (0: not watched)
    idle_s: float = 0.0  # scheduled checks and calibrations wait until no request came for idle_s seconds (0: not)


@dataclass
class DaemonSection:
    """Where the bench daemon listens and keeps its store."""

    bind: list = field(default_factory=lambda: ["tcp://127.0.0.1:5555"])
    publish: str = "tcp://127.0.0.1:5556"
    store: str = "simhw-store.sqlite"
    keys: str = ""  # directory of allowed client public keys (CURVE); required for non-loopback binds
    server_key: str = ""  # the daemon's secret key file (CURVE)
    heartbeat_s: float = 1.0
    durability: str = "process"  # "process": commits survive the daemon being killed; "power": also power loss
    store_max_mb: float = 0.0  # cap on the store's size (0: none); past it writes fail as on a full disk
    busy_poll_us: float = 0.0  # after a request, poll without sleeping this long (lower latency, one busy core)
    max_pilots: int = 20_000  # pilot measurements (stages x slots + held-out) a requested calibration may take
    max_job_s: float = 3600.0  # a calibration still running after this long is cancelled
    max_queued: int = 256  # hardware jobs (pushes included) one client may have queued at once (beyond: busy)


@dataclass
class LabSection:
    """Replication of the daemon's store to the lab's PostgreSQL (docs/lab.md); off without a dsn."""

    dsn: str = ""  # a libpq connection string or URI, e.g. "postgresql://simhw@127.0.0.1/lab"
    bench_id: str = ""  # the bench's name in the lab (default: the bench file's name)
    batch: int = 1000  # records per replication transaction
    retry_s: float = 2.0  # pause before reconnecting after the lab database was unreachable


_SECTIONS = {
    "geometry": GeometrySection,
    "sweep": SweepSection,
    "board": BoardSection,
    "vna": VNASection,
    "simulation": SimulationSection,
    "calibration": CalibrationSection,
    "daemon": DaemonSection,
    "lab": LabSection,
}


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
