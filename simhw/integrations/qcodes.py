"""A QCoDeS instrument over the bench daemon (docs/guide.md, "QCoDeS").

``SimBench(name, endpoint)`` connects when built, as QCoDeS instruments do, and learns the sweep
(its frequencies and receive ports) from the newest stored measurement, or by measuring once when
the store holds none, so the setpoints are there before the first get (``dond`` sizes its dataset
by them, a snapshot reads them). Its parameters:

- ``config``: set a stored configuration by name or content hash (pushed through the daemon, returned
  once the board's readback matched); get the hash the board shows (what the daemon verified last).
- ``s``: a :class:`ParameterWithSetpoints`; a get measures (the daemon stores the sweep) and returns
  S (F x P complex) on the setpoints ``frequency`` (Hz: the last measurement's, or the sweep learnt
  at connection) and ``port`` (the VNA port numbers of the receive antennas, as measured).
- ``measurement``: the store id of the last measurement this instrument took (0 before any).
- ``model_version``: the daemon's current calibrated model, its calibration's store id (0 before any).

Every instance has its own daemon client, so instruments in several processes (notebooks) share one
bench: the daemon orders their requests and each sees the others' pushes.
"""

from __future__ import annotations

import numpy as np
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter, ParameterWithSetpoints
from qcodes.validators import Arrays, Strings

from simhw.integrations.bench import BenchSession

__all__ = ["SimBench"]


class SimBench(Instrument):
    def __init__(
        self,
        name: str,
        endpoint: str = "tcp://127.0.0.1:5555",
        timeout: float = 60.0,
        curve: tuple | None = None,
        **kwargs,
    ):
        super().__init__(name, **kwargs)
        self._session = BenchSession(endpoint, timeout, curve)
        self._status = self._session.open()
        # (frequencies, ports) of the newest sweep: the setpoints (and what dond sizes its dataset by) before any get
        self._sweep = self._session.sweep()
        self._last_id = 0  # store id of the last measurement
        self.config = self.add_parameter(
            "config",
            Parameter,
            label="configuration (stored name or hash)",
            vals=Strings(),
            set_cmd=self._session.push,
            get_cmd=lambda: self._session.active_hash() or "",
        )
        self.frequency = self.add_parameter(
            "frequency",
            Parameter,
            label="frequency",
            unit="Hz",
            vals=Arrays(shape=(self._points,)),
            get_cmd=lambda: self._sweep[0],
        )
        self.port = self.add_parameter(
            "port",
            Parameter,
            label="receive port",
            vals=Arrays(shape=(self._ports,)),
            get_cmd=lambda: np.asarray(self._sweep[1]),
        )
        self.s = self.add_parameter(
            "s",
            ParameterWithSetpoints,
            label="S(port, 1)",
            setpoints=(self.frequency, self.port),
            vals=Arrays(shape=(self._points, self._ports), valid_types=(np.complexfloating,)),
            get_cmd=self._measure,
        )
        self.measurement = self.add_parameter(
            "measurement", Parameter, label="store id of the last measurement", get_cmd=lambda: self._last_id
        )
        self.model_version = self.add_parameter(
            "model_version", Parameter, label="newest calibrated model (store id)", get_cmd=self._session.model_version
        )

    def _measure(self) -> np.ndarray:
        m = self._session.measure()
        self._sweep, self._last_id = (np.asarray(m.frequencies, float), tuple(m.receive_ports)), int(m.id)
        return np.asarray(m.s)

    def _points(self) -> int:
        return len(self._sweep[0])

    def _ports(self) -> int:
        return len(self._sweep[1])

    def get_idn(self) -> dict:
        return {
            "vendor": "simhw",
            "model": "bench daemon",
            "serial": self._session.endpoint,
            "firmware": str(self._status.get("version", "")),
        }

    def close(self) -> None:
        self._session.close()
        super().close()
