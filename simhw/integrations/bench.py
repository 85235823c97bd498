"""What the Bluesky devices and the QCoDeS instrument ask of the bench daemon, over :class:`DaemonClient`.

A :class:`BenchSession` records its endpoint when built and opens its client at :meth:`open` (the first
request is ``status``, so an absent daemon is found there). It resolves a configuration given by
content hash or by any name it was pushed under (the daemon's ``config`` by ``name``), pushes one and
reads back the board's latch report, measures, and reads the current calibrated model's store id and
the sweep (frequencies and receive ports). Calls are blocking and one at a time; the asynchronous
devices run them on one worker thread each.
"""

from __future__ import annotations

import re

import numpy as np

from simhw.control.client import DaemonClient, DaemonError
from simhw.values.phase_config import PhaseConfig

__all__ = ["BenchSession", "LATCH"]

LATCH = ("active_crc", "latch_count", "boot_id")  # the board's report of what it latched
_HASH = re.compile(r"[0-9a-f]{64}")


class BenchSession:
    def __init__(self, endpoint: str, timeout: float = 60.0, curve: tuple | None = None):
        self.endpoint, self.timeout, self.curve = endpoint, timeout, curve
        self.client: DaemonClient | None = None

    def open(self) -> dict:
        """Connect and return the daemon's status (raises ``DaemonTimeout`` if it does not answer)."""
        if self.client is None:
            self.client = DaemonClient(self.endpoint, timeout=self.timeout, curve=self.curve)
        try:
            return self.client.status()
        except DaemonError:
            self.close()
            raise

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _c(self) -> DaemonClient:
        if self.client is None:
            raise RuntimeError(f"not connected to the bench daemon at {self.endpoint}: call connect() first")
        return self.client

    def stored(self, ref: str) -> PhaseConfig:
        """The stored configuration with this content hash, or the one that most recently came with this
        name for the first time, from any client (whatever name its pattern first came with;
        :meth:`Store.config_named`), returned under that name. An unknown hash or name is a KeyError."""
        if not isinstance(ref, str) or not ref:
            raise ValueError(f"a configuration is given by its stored name or hash, got {ref!r}")
        ref = str(ref)  # a numpy string (a QCoDeS sweep's value) as plain text
        try:
            return self._c().config(ref) if _HASH.fullmatch(ref) else self._c().config(name=ref)
        except DaemonError as e:
            if e.code != "not_found":
                raise
            raise KeyError(
                f"no stored configuration {'with hash' if _HASH.fullmatch(ref) else 'named'} '{ref}'"
            ) from None

    def push(self, config: PhaseConfig | str) -> dict:
        """Push (a configuration, or a stored name or hash); returns the acknowledgement with the latch report."""
        cfg = config if isinstance(config, PhaseConfig) else self.stored(config)
        ack = self._c().push(cfg)
        report = self._c().board_status()
        return {**ack, **{k: report[k] for k in LATCH}}

    def measure(self):
        """A :class:`~simhw.values.measurement.Measurement` (frequencies, S, store id, hash, flag, ..)."""
        return self._c().measure()

    def calibrate(self, **params) -> str:
        """Start a calibration job (the daemon's ``calibrate`` fields); returns its job id."""
        return self._c().calibrate(**params)

    def wait_calibration(self, job: str) -> dict:
        return self._c().wait_calibration(job, timeout=self.timeout)

    def active_hash(self) -> str | None:
        return self._c().status()["active_hash"]

    def model_version(self) -> int:
        """The daemon's current calibrated model (its calibration's store id); 0 before any."""
        return int(self._c().status()["model_version"] or 0)

    def sweep(self) -> tuple[np.ndarray, tuple[int, ...]]:
        """(frequencies (F,) in Hz, the VNA's receive port numbers) of the bench's sweep: the newest stored
        measurement's, or one measured now when the store holds none."""
        newest = self._c().measurements(limit=1)
        if newest:
            m = self._c().measurement(newest[0]["id"])
        else:
            m = self.measure()
        return np.asarray(m.frequencies, float), tuple(m.receive_ports)
