"""The sections of a bench file (:mod:`simhw.values.bench_config`), one dataclass each: its keys, their
types and defaults, and what each means."""

from __future__ import annotations

from dataclasses import dataclass, field

from simhw.physics.geometry import SPEED_OF_LIGHT, AntennaArray, SimGeometry

__all__ = [
    "BenchConfigError",
    "GeometrySection",
    "SweepSection",
    "BoardSection",
    "VNASection",
    "SimulationSection",
    "CalibrationSection",
    "DaemonSection",
    "LabSection",
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
