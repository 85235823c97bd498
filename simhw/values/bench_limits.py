"""The allowed range of every numeric key of the bench file, declared once with where it comes from.

A bound is a number or a function of the bench file (the VNA model's ranges: frequency, points,
IF bandwidth, power, ports). :func:`check_ranges` refuses the first value outside its range with
a :class:`BenchConfigError` that names the key, the value and the range; non-finite numbers are
refused before (``_section`` in :mod:`simhw.values.bench_config`). A simulated bench is also held
to what the simulation can hold in memory (:func:`check_simulated_size`).
"""

from __future__ import annotations

from simhw.physics.geometry import SPEED_OF_LIGHT
from simhw.values.vna_models import DEFAULT_MODEL, model_named

__all__ = ["RANGES", "check_ranges", "check_simulated_size", "vna_limits"]

UART = (300, 12_000_000)  # from the slowest standard rate to the fastest USB UARTs (FT232H: 12 Mbaud)
HOUR_S = 3600.0
SIM_MAX_ATOMS = 1024  # atoms per layer the simulated SIM propagates (dense atom-to-atom matrices)
SIM_MAX_LAYERS = 16  # layers the simulated cascade keeps within float64 (each layer's gain multiplies the next)
SIM_MAX_ELEMENTS = 4_000_000  # points x atoms^2 x (layers + 1): the simulation's propagation, about 64 MB


def vna_limits(cfg):
    """The ranges of the bench's VNA model (``vna.model``, or the family's default)."""
    try:
        return model_named(cfg.vna.model or DEFAULT_MODEL[cfg.vna.family]).limits
    except KeyError:
        return None  # an unknown model or family: refused by name in BenchConfig.validate


def _vna(attr: str, default: float):
    return lambda cfg: getattr(vna_limits(cfg), attr, default)


#: key -> (lowest, highest, why); a bound may be a function of the bench config
RANGES = {
    "geometry.layers": (1, 255, "the SMP HELLO reply counts layers in one byte"),
    "geometry.rows": (1, 65535, "the SMP WRITE offset is 16 bits"),
    "geometry.cols": (1, 65535, "the SMP WRITE offset is 16 bits"),
    "geometry.bits": (1, 16, "codes are 16-bit words"),
    "geometry.frequency": (_vna("f_min", 0.0), _vna("f_max", 0.0), "the VNA model's frequency range"),
    "geometry.thickness": (1e-6, 10.0, "metres"),
    "geometry.receive_ports": (1, 3, "a 4-port VNA: port 1 drives the test antenna"),
    "geometry.input_distance": (1e-6, 100.0, "metres"),
    "geometry.output_distance": (1e-6, 100.0, "metres"),
    "sweep.start": (_vna("f_min", 0.0), _vna("f_max", 0.0), "the VNA model's frequency range"),
    "sweep.stop": (_vna("f_min", 0.0), _vna("f_max", 0.0), "the VNA model's frequency range"),
    "sweep.points": (1, _vna("max_points", 1), "the VNA model's points per sweep"),
    "sweep.ifbw": (_vna("ifbw_min", 0.0), _vna("ifbw_max", 0.0), "the VNA model's IF bandwidths"),
    "sweep.power": (_vna("power_min", 0.0), _vna("power_max", 0.0), "the VNA model's source power, dBm"),
    "board.baudrate": (*UART, "baud rates a UART runs at"),
    "board.uart_baudrate": (0, UART[1], "0: none, else a UART's baud rate"),
    "board.timeout": (0.0, HOUR_S, "seconds; 0: the driver's default"),
    "board.retries": (-1, 100, "-1: the driver's default"),
    "vna.timeout": (0.0, HOUR_S, "seconds; 0: the driver's default"),
    "vna.channel": (1, 200, "instrument channels"),
    "vna.source_port": (1, _vna("ports", 4), "the VNA model's ports"),
    "vna.averaging": (0, 65536, "sweeps an instrument averages"),
    "simulation.seed": (0, 2**63 - 1, "a 64-bit seed"),
    "simulation.error_scale": (0.0, 100.0, "x the fabrication error bounds"),
    "simulation.coupling": (0.0, 0.999, "alpha of the coupling, below 1"),
    "simulation.phase_noise": (0.0, 3.2, "rad"),
    "simulation.drift_k_per_hour": (-100.0, 100.0, "kelvin per hour"),
    "simulation.clock_speed": (0.0, 1e6, "x the wall clock (0: time moves only when advanced)"),
    "simulation.fault_seed": (-1, 2**63 - 1, "-1: fresh at every start"),
    # with SMPBoard's default 6 retries (drivers/smp_board.py): revisit this bound if that default changes
    "simulation.byte_errors": (
        0.0,
        0.005,
        "a probability per byte, at most one in 200: beyond, a board's hello "
        "rarely gets through its retries and the bench cannot start",
    ),
    "simulation.board_resets_per_hour": (0.0, HOUR_S, "at most one a second"),
    "simulation.vna_stalls_per_hour": (0.0, HOUR_S, "at most one a second"),
    "simulation.vna_drops_per_hour": (0.0, HOUR_S, "at most one a second"),
    "simulation.clock_jumps_per_hour": (0.0, HOUR_S, "at most one a second"),
    "simulation.reflection": (0.0, 0.999, "a reflection coefficient, below 1"),
    "simulation.port_coupling": (0.0, 0.999, "a coupling coefficient, below 1"),
    "simulation.vna_raw_error": (0.0, 1.0, "relative error"),
    "simulation.multipath": (0.0, 1.0, "relative to the line of sight"),
    "simulation.multipath_delay_ns": (0.0, 1000.0, "ns"),
    "simulation.cable_ppm_per_k": (0.0, 10_000.0, "ppm per kelvin"),
    "simulation.cable_delay_ns": (0.0, 1000.0, "ns"),
    "simulation.leakage": (0.0, 1.0, "relative to the line of sight"),
    "simulation.leakage_delay_ns": (0.0, 1000.0, "ns"),
    "simulation.code_spread": (0.0, 3.2, "rad"),
    "simulation.horn_q": (0.0, 1000.0, "the cos^q exponent"),
    "simulation.vna_residual_directivity": (0.0, 1.0, "|e_d|"),
    "simulation.vna_residual_match": (0.0, 1.0, "|e_s|"),
    "simulation.vna_residual_tracking_db": (0.0, 10.0, "dB"),
    "calibration.stages": (1, 100, "stages of one run"),
    "calibration.slots": (1, 100_000, "pilot configurations per stage"),
    "calibration.heldout": (1, 100_000, "held-out configurations"),
    "calibration.period_s": (0.0, 1e9, "seconds (0: off)"),
    "calibration.check_every_s": (0.0, 1e9, "seconds (0: off)"),
    "calibration.residual_db": (0.0, 100.0, "dB (0: from the model)"),
    "calibration.power_db": (0.0, 100.0, "dB (0: from the model)"),
    "calibration.temperature_k": (0.0, 1000.0, "kelvin (0: not watched)"),
    "calibration.idle_s": (
        0.0,
        86_400.0,
        "seconds without requests before a scheduled run (0: do not wait), at most a day",
    ),
    "daemon.heartbeat_s": (0.01, HOUR_S, "seconds"),
    "daemon.store_max_mb": (0.0, 1e9, "MiB (0: no cap)"),
    "daemon.busy_poll_us": (0.0, 1e6, "microseconds (1 s)"),
    "daemon.max_pilots": (1, 10_000_000, "pilot measurements a requested calibration may take"),
    "daemon.max_job_s": (1.0, 30 * 24 * HOUR_S, "seconds a job may hold the hardware"),
    "daemon.max_queued": (1, 1_000_000, "hardware jobs one client may have queued"),
    "lab.batch": (1, 1_000_000, "records per transaction"),
    "lab.retry_s": (0.01, HOUR_S, "seconds"),
}


#: keys where 0 means "the default" or "none", and any other value must reach this lowest useful one
ZERO_OR = {"board.uart_baudrate": UART[0], "board.timeout": 0.05, "vna.timeout": 0.1}


def _bound(b, cfg):
    return b(cfg) if callable(b) else b


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_ranges(cfg, error) -> None:
    """Raise ``error`` naming the first key of ``RANGES`` whose value is outside its range."""
    for key, (lo, hi, why) in RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        lo, hi = _bound(lo, cfg), _bound(hi, cfg)
        if not lo <= value <= hi:
            raise error(f"{key} = {value!r} is outside {_num(lo)}..{_num(hi)} ({why})")
        if value and value < ZERO_OR.get(key, lo):
            raise error(f"{key} = {value!r}: 0 ({why}), or at least {_num(ZERO_OR[key])}")


def check_simulated_size(cfg, error) -> None:
    """A simulated bench's SIM must fit the simulation's memory (dense per-frequency propagation)."""
    g = cfg.geometry
    atoms = g.rows * g.cols
    if g.layers > SIM_MAX_LAYERS:
        raise error(f"geometry.layers = {g.layers}: a simulated bench cascades at most {SIM_MAX_LAYERS} layers")
    if atoms > SIM_MAX_ATOMS:
        raise error(
            f"geometry.rows x geometry.cols = {g.rows} x {g.cols} = {atoms} atoms per layer; a simulated "
            f"bench holds at most {SIM_MAX_ATOMS}"
        )
    worst = 1e-3 * SPEED_OF_LIGHT / cfg.sweep.start * cfg.simulation.error_scale  # FabricationErrors.paper's e_I
    gap = min(g.thickness / (g.layers - 1) if g.layers > 1 else g.thickness, g.input_distance, g.output_distance)
    if gap <= worst:
        raise error(
            f"the smallest gap between planes (geometry.thickness / (geometry.layers - 1), "
            f"geometry.input_distance or geometry.output_distance) is {gap:g} m, within the simulated spacing error of {worst:g} m "
            f"(simulation.error_scale = {cfg.simulation.error_scale:g} x 0.1% of the wavelength at sweep.start = "
            f"{cfg.sweep.start:g} Hz)"
        )
    elements = cfg.sweep.points * atoms**2 * (g.layers + 1)
    if elements > SIM_MAX_ELEMENTS:
        most = max(SIM_MAX_ELEMENTS // (atoms**2 * (g.layers + 1)), 1)
        raise error(
            f"sweep.points x (geometry.rows x geometry.cols)^2 x (geometry.layers + 1) = {cfg.sweep.points} x "
            f"{atoms}^2 x {g.layers + 1} exceeds the {SIM_MAX_ELEMENTS} a simulated bench holds: at most "
            f"{most} points for this SIM (or fewer layers or atoms)"
        )
