"""What a simulated VNA holds: channels with their sweeps, measurements (traces) and windows.

The sweep kinds of every family: linear, logarithmic, CW (a time sweep at one frequency), power
(at the CW frequency) and segment tables; points, IF bandwidth, source power, averaging,
smoothing, correction with a named cal set, and the trigger output per point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Channel", "Measurement", "Segment", "formatted", "FORMATS"]


@dataclass
class Segment:
    start: float
    stop: float
    points: int
    on: bool = True


@dataclass
class Measurement:
    name: str
    param: str  # "S21"
    channel: int
    number: int  # measurement number (PNA), trace number (ENA)
    fmt: str = "MLOG"


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
    smoothing: bool = False
    smooth_aperture: float = 1.5  # percent of the points
    correction: bool = False
    cal_set: str = ""
    point_trigger: bool = False  # one trigger event per point (PNA SENS:SWE:TRIG:POIN, ENA TRIG:POIN)
    aux_enabled: bool = False  # trigger output pulses
    aux_interval: str = "SWE"  # POIN or SWE
    aux_position: str = "AFT"
    electrical_delay: float = 0.0  # s (kept; the simulated traces are not delayed)
    pending_mode: str = ""  # SING or GRO while a single sweep or group runs
    segments: list[Segment] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # measurement name -> complex trace of the last sweep
    busy_until: float = 0.0
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


FORMATS = ("MLOGarithmic", "MLINear", "PHASe", "UPHase", "REAL", "IMAGinary", "SWR", "GDELay", "SMITh", "POLar",
           "ISMith", "COMPlex")
_TWO_VALUES = ("SMIT", "POL", "ISM", "COMP")


def formatted(s: np.ndarray, fmt: str, freqs: np.ndarray, aperture_points: int = 1) -> np.ndarray:
    """The formatted trace (one value per point, two for Smith and polar), smoothed over
    ``aperture_points`` points with a centred moving average when that is above one."""
    if fmt in _TWO_VALUES:
        out = np.stack([s.real, s.imag], axis=1)
    else:
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
        out = out[:, None]
    if aperture_points > 1 and out.shape[0] > 1:
        k = min(aperture_points, out.shape[0])
        kernel = np.ones(k) / k
        pad = k // 2
        padded = np.pad(out, ((pad, k - 1 - pad), (0, 0)), mode="edge")
        out = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(out.shape[1])], axis=1)
    return out
