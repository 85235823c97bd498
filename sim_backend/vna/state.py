"""What a simulated VNA holds: channels with their sweeps, measurements (traces) and windows.

The sweep kinds of every family: linear, logarithmic, CW (a time sweep at one frequency), power
(at the CW frequency) and segment tables; points, IF bandwidth, source power, averaging,
correction with a named cal set, port offsets (R&S), the trigger per point and the trigger output
per point, and a sweep armed to wait for external trigger events. A trace (measurement) has its
format, smoothing and electrical delay, as the manuals of all three families make them per trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Channel", "TraceDef", "Segment", "formatted", "windowed_mean", "FORMATS"]


@dataclass
class Segment:
    start: float
    stop: float
    points: int
    on: bool = True


@dataclass
class TraceDef:
    name: str
    param: str  # "S21"
    channel: int
    number: int  # measurement number (PNA), trace number (ENA)
    fmt: str = "MLOG"
    smoothing: bool = False
    smooth_aperture: float = 1.5  # percent: of the points (PNA, R&S) or of the span (ENA)
    edelay: float = 0.0  # s, electrical delay (PNA, ENA: applied to the formatted data)


@dataclass
class Channel:
    number: int
    start: float
    stop: float
    points: int
    ifbw: float
    power: float
    name: str = ""
    cw: float = 1e9
    sweep_type: str = "LIN"
    mode: str = "CONT"  # CONT, HOLD, SING (armed single), GRO
    groups: int = 1
    sweep_time_set: float = 0.0
    averaging: bool = False
    avg_count: int = 1
    avg_mode: str = "POIN"
    correction: bool = False
    cal_set: str = ""
    point_trigger: bool = False  # one trigger event per point (PNA SENS:SWE:TRIG:POIN, R&S TRIG:LINK 'POIN')
    trigger_link: str = "SWE"  # R&S TRIG<ch>:LINK: SWE, SEGM, POIN, PPO
    aux_enabled: bool = False  # trigger output pulses
    aux_interval: str = "SWE"  # POIN or SWE
    aux_position: str = "AFT"
    port_delays: dict = field(default_factory=dict)  # R&S offsets: port -> delay, s (in the unformatted data)
    pending_mode: str = ""  # SING or GRO while a single sweep or group runs
    segments: list[Segment] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # measurement name -> complex trace of the last sweep
    busy_until: float = 0.0
    armed_at: float | None = None  # a sweep waiting for external trigger events since then
    armed_per_point: bool = False  # ... one event per point (else one event starts the whole sweep)
    swept: bool = False

    def frequencies(self) -> np.ndarray:
        if self.sweep_type in ("CW", "POW"):
            return np.full(self.points, self.cw)
        if self.sweep_type == "LOG":
            return np.geomspace(self.start, self.stop, self.points)
        if self.sweep_type == "SEGM":
            on = [s for s in self.segments if s.on]
            if not on:
                return np.array([])
            return np.concatenate([np.linspace(s.start, s.stop, s.points) for s in on])
        return np.linspace(self.start, self.stop, self.points)

    @property
    def n_points(self) -> int:
        if self.sweep_type == "SEGM":
            return sum(s.points for s in self.segments if s.on)
        return self.points

    @property
    def center(self) -> float:
        return (self.start + self.stop) / 2

    @property
    def span(self) -> float:
        return self.stop - self.start

    def set_center_span(self, center: float | None = None, span: float | None = None) -> None:
        c = self.center if center is None else center
        s = self.span if span is None else span
        self.start, self.stop = c - s / 2, c + s / 2


FORMATS = (
    "MLOGarithmic",
    "MLINear",
    "PHASe",
    "UPHase",
    "REAL",
    "IMAGinary",
    "SWR",
    "GDELay",
    "SMITh",
    "POLar",
    "ISMith",
    "COMPlex",
)
_TWO_VALUES = ("SMIT", "POL", "ISM", "COMP")


def formatted(s: np.ndarray, fmt: str, freqs: np.ndarray) -> np.ndarray:
    """The formatted trace: (points, 1), or (points, 2) for Smith and polar (real, imaginary)."""
    if fmt in _TWO_VALUES:
        return np.stack([s.real, s.imag], axis=1)
    mag = np.abs(s)
    phase = np.angle(s)
    if fmt == "MLOG":
        out = 20 * np.log10(mag + 1e-300)
    elif fmt == "MLIN":
        out = mag
    elif fmt == "PHAS":
        out = np.degrees(phase)
    elif fmt == "UPH":
        out = np.degrees(np.unwrap(phase))
    elif fmt == "REAL":
        out = s.real
    elif fmt == "IMAG":
        out = s.imag
    elif fmt == "SWR":
        out = (1 + mag) / np.maximum(1 - mag, 1e-12)
    else:  # GDEL: -d(phase)/d(omega)
        w = 2 * np.pi * freqs
        out = -np.gradient(np.unwrap(phase), w) if s.size > 1 and np.ptp(w) > 0 else np.zeros(s.size)
    return out[:, None]


def windowed_mean(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Point n replaced by the mean of points lo[n] .. hi[n] (inclusive, 0-based): the moving average
    every family's smoothing is, each with its own window (see the families' ``smoothing_window``)."""
    lo = np.clip(lo, 0, values.shape[0] - 1)
    hi = np.clip(hi, lo, values.shape[0] - 1)
    csum = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    return (csum[hi + 1] - csum[lo]) / (hi - lo + 1)[:, None]
