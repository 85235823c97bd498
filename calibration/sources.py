"""Where pilot measurements come from: the bench through the drivers, or any response function.

A source turns pilot codes (T, L, N) into :class:`CalibrationData`. :class:`BenchSource` pushes
each configuration to the board and sweeps the VNA (or, at one frequency on hardware that has a
trigger line, stores the pilots in board slots and measures them all in one triggered list sweep
per receive port). :class:`RecordedSource` replays saved data. :class:`FunctionSource` wraps a plain function, e.g. a simulated SIM's
response, and adds complex Gaussian noise at a given pilot SNR: the model path used by the paper
reproduction and the benchmarks. Both report progress through an optional callback
``progress(done, total)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from calibration.data import CalibrationData
from drivers.board import Board
from drivers.capabilities import ListSweep, SlotStore, TriggerSequencer, capable
from drivers.list_measurement import triggered_list_measurement
from simhw.values.phase_config import PhaseConfig

__all__ = ["PilotSource", "BenchSource", "FunctionSource", "RecordedSource"]

Progress = Callable[[int, int], None]


class PilotSource:
    """Common interface: ``measure(codes) -> CalibrationData``; ``temperature()`` if the board reports one."""

    frequencies: np.ndarray
    bits: int
    shape: tuple  # (L, rows, cols)

    def measure(self, codes, progress: Progress | None = None) -> CalibrationData:
        raise NotImplementedError

    def temperature(self) -> float | None:
        return None

    def now(self) -> float:
        return time.time()

    def _check_codes(self, codes) -> np.ndarray:
        codes = np.asarray(codes)
        L, R, C = self.shape
        if codes.ndim != 3 or codes.shape[1:] != (L, R * C):
            raise ValueError(f"pilot codes must be (T, {L}, {R * C}), got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= (1 << self.bits)):
            raise ValueError(f"pilot codes must lie in [0, {(1 << self.bits) - 1}] for {self.bits}-bit atoms")
        return codes.astype(np.uint16)


class FunctionSource(PilotSource):
    """``respond(codes (T, L, N), t) -> (T, F, P)`` plus noise at ``snr_db`` (mean response power / noise)."""

    def __init__(
        self,
        respond: Callable,
        frequencies,
        bits: int,
        shape: tuple,
        snr_db: float | None = None,
        seed=None,
        clock: Callable[[], float] | None = None,
        temperature: Callable[[], float] | None = None,
    ):
        self.respond = respond
        self.frequencies = np.atleast_1d(np.asarray(frequencies, float))
        self.bits, self.shape, self.snr_db = bits, tuple(shape), snr_db
        self.rng = np.random.default_rng(seed)
        self.clock = clock or time.time
        self._temperature = temperature

    def now(self) -> float:
        return self.clock()

    def temperature(self) -> float | None:
        return None if self._temperature is None else float(self._temperature())

    def measure(self, codes, progress: Progress | None = None) -> CalibrationData:
        codes = self._check_codes(codes)
        t = self.now()
        y = np.asarray(self.respond(codes, t), complex)
        if self.snr_db is not None:
            sigma = np.sqrt(np.mean(np.abs(y) ** 2) / 10 ** (self.snr_db / 10))
            y = y + sigma / np.sqrt(2) * (self.rng.standard_normal(y.shape) + 1j * self.rng.standard_normal(y.shape))
        if progress:
            progress(len(codes), len(codes))
        return CalibrationData.from_codes(
            codes, self.bits, y, self.frequencies, {"source": "function", "time": t, "snr_db": self.snr_db}
        )


LIST_IFBW = 10e3  # a list sweep's IF bandwidth when none is given: 100 us points leave a board time to latch


class BenchSource(PilotSource):
    """Measure pilots on a bench: ``board`` (any :class:`Board`) and ``vna`` (any VNA driver).

    VNA port 1 is the test antenna, ports 2 .. P+1 the receive antennas. ``use_list`` allows the
    triggered list measurement when there is one frequency and the hardware supports it.
    """

    def __init__(
        self,
        board: Board,
        vna,
        frequencies,
        receive_ports: int,
        ifbw: float | None = None,
        power: float | None = None,
        use_list: bool = True,
        verify: bool = True,
        clock: Callable[[], float] | None = None,
        params: tuple[str, ...] | None = None,
    ):
        """``params``: the S-parameter of each receive port (the bench's port map); default S21, S31, .."""
        self.board, self.vna = board, vna
        info = board.info
        self.bits, self.shape = info.bits, info.shape
        self.frequencies = np.atleast_1d(np.asarray(frequencies, float))
        if receive_ports < 1:
            raise ValueError("need at least one receive port")
        self.params = tuple(params) if params else tuple(f"S{p + 2}1" for p in range(receive_ports))
        if len(self.params) != receive_ports:
            raise ValueError(f"{len(self.params)} S-parameters for {receive_ports} receive ports")
        self.ifbw, self.power, self.verify = ifbw, power, verify
        self.use_list = use_list
        self.clock = clock or time.time

    def now(self) -> float:
        return self.clock()

    @property
    def list_capable(self) -> bool:
        return (
            self.use_list
            and self.frequencies.size == 1
            and capable(self.board, TriggerSequencer)
            and capable(self.board, SlotStore)
            and capable(self.vna, ListSweep)
        )

    def temperature(self) -> float | None:
        return self.board.status().temperature_c

    def _configs(self, codes) -> list[PhaseConfig]:
        L, R, C = self.shape
        return [PhaseConfig(c.reshape(L, R, C), self.bits, name=f"pilot-{i}") for i, c in enumerate(codes)]

    def measure(self, codes, progress: Progress | None = None) -> CalibrationData:
        codes = self._check_codes(codes)
        configs = self._configs(codes)
        T, P = len(configs), len(self.params)
        y = np.empty((T, self.frequencies.size, P), complex)
        t0 = self.now()
        if self.list_capable:
            if self.power is not None:
                self.vna.power = self.power
            chunk = self.board.info.slots
            for s in range(0, T, chunk):
                part = configs[s : s + chunk]
                for p, param in enumerate(self.params):
                    _, data = triggered_list_measurement(
                        self.board, self.vna, part, float(self.frequencies[0]), param, ifbw=self.ifbw or LIST_IFBW
                    )
                    y[s : s + len(part), 0, p] = data
                if progress:
                    progress(min(s + chunk, T), T)
            mode = "list"
        else:
            f = self.frequencies
            self.vna.configure(float(f[0]), float(f[-1]), int(f.size), self.ifbw, self.power, self.params)
            got = self.vna.frequencies()
            if not np.allclose(got, f, rtol=0, atol=1e-3 * max(1.0, float(np.diff(f).min()) if f.size > 1 else 1.0)):
                raise ValueError("pilot frequencies must be a linear sweep the VNA can reproduce")
            for t, cfg in enumerate(configs):
                self.board.push(cfg, verify=self.verify)
                data = self.vna.measure()
                y[t] = np.stack([data[p] for p in self.params], axis=-1)
                if progress:
                    progress(t + 1, T)
            mode = "sweep"
        return CalibrationData.from_codes(
            codes,
            self.bits,
            y,
            self.frequencies,
            {"source": "bench", "board": self.board.info.serial, "mode": mode, "time": t0, "params": list(self.params)},
        )


class RecordedSource(PilotSource):
    """Replays recorded :class:`CalibrationData` (with codes): the recording decides the pilots.

    The last ``heldout`` slots are the reference configurations; :meth:`pilots` hands out the
    others in recorded order, and :meth:`measure` looks each requested configuration up.
    """

    def __init__(self, data: CalibrationData, shape: tuple, heldout: int = 0, test: int | None = None):
        """``test``: the last slots that are the test set (default: the recording's ``meta["test"]``, or
        none); the ``heldout`` slots before them are the reference (validation) configurations."""
        if data.codes is None or data.bits is None:
            raise ValueError("recorded data need their integer codes and bit depth (CalibrationData.from_codes)")
        test = int((data.meta or {}).get("test", 0)) if test is None else int(test)
        if not 0 <= test or not 0 <= heldout < data.slots - test:
            raise ValueError(
                f"held-out slots must be in [0, {data.slots - test}) with {test} test slots, got {heldout}"
            )
        self.data, self.shape = data, tuple(shape)
        self.bits, self.frequencies = data.bits, data.frequencies
        self.n_train = data.slots - heldout - test
        self.reference_codes = data.codes[self.n_train : data.slots - test]
        self.test_codes = data.codes[data.slots - test :] if test else None
        self._index = {c.tobytes(): i for i, c in enumerate(data.codes.astype(np.uint16))}

    def pilots(self, first: int, count: int) -> np.ndarray:
        if first + count > self.n_train:
            raise ValueError(f"the recording has {self.n_train} calibration slots; {first + count} requested")
        return self.data.codes[first : first + count]

    def measure(self, codes, progress: Progress | None = None) -> CalibrationData:
        codes = self._check_codes(codes)
        try:
            idx = [self._index[c.tobytes()] for c in codes]
        except KeyError:
            raise ValueError("a requested configuration is not in the recording") from None
        if progress:
            progress(len(idx), len(idx))
        return self.data.take(np.array(idx, dtype=int))
