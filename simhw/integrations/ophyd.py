"""ophyd-async devices over the bench daemon, for Bluesky plans (docs/guide.md, "Bluesky").

- :class:`SimBoard`: a movable; ``set(config)`` (a :class:`PhaseConfig`, or a stored name or hash)
  pushes through the daemon and completes once the daemon acknowledged the push, i.e. after the
  board's readback matched. Readings: ``config_hash`` and the board's latch report (``active_crc``,
  ``latch_count``, ``boot_id``, read from the board after the push).
- :class:`SimVNA`: triggerable and readable; ``trigger()`` measures (labelled by the daemon with what
  the board showed). Readings: ``s`` (F x P complex), ``measurement`` (its store id), ``config_hash``;
  configuration: ``frequencies`` (Hz), so the descriptor carries them.
- :class:`SimCalibration`: a flyable; ``kickoff()`` starts a calibration job, ``complete()`` waits
  for its record; readings: ``calibration`` (store id), ``status`` and ``heldout_nmse_db``.

Nothing is opened when a device is built: ``connect()`` reaches the daemon (and fails there if it
does not answer). Each device has its own client, used from one worker thread.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ophyd_async.core import (
    Array1D,
    AsyncStatus,
    DeviceConnector,
    StandardReadable,
    StandardReadableFormat,
    soft_signal_r_and_setter,
)

from simhw.integrations.bench import LATCH, BenchSession
from simhw.values.phase_config import PhaseConfig

__all__ = ["SimBoard", "SimVNA", "SimCalibration"]


class _DaemonConnector(DeviceConnector):
    """Connects a device by reaching the daemon (a ``status`` request) before its signals."""

    async def connect_real(self, device, timeout: float, force_reconnect: bool):
        status = await device._call(device._session.open)
        await device._connected(status)
        await super().connect_real(device, timeout, force_reconnect)


class _DaemonDevice(StandardReadable):
    def __init__(self, endpoint: str, name: str = "", timeout: float = 60.0, curve: tuple | None = None):
        self._session = BenchSession(endpoint, timeout, curve)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simhw-daemon")
        super().__init__(name=name, connector=_DaemonConnector())

    async def _call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def _connected(self, status: dict) -> None:
        """Set what the daemon's status already tells (after connecting)."""

    def close(self) -> None:
        """Close the daemon client and its worker thread (again: nothing)."""
        if self._worker is not None:
            self._worker.submit(self._session.close).result()
            self._worker.shutdown()
            self._worker = None


class SimBoard(_DaemonDevice):
    """The SIM board as a movable: ``set`` pushes a configuration and completes when it is verified."""

    def __init__(self, endpoint: str, name: str = "", timeout: float = 60.0, curve: tuple | None = None):
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.config_hash, self._set_hash = soft_signal_r_and_setter(str)
        with self.add_children_as_readables():
            self.active_crc, self._set_crc = soft_signal_r_and_setter(int)
            self.latch_count, self._set_latches = soft_signal_r_and_setter(int)
            self.boot_id, self._set_boot = soft_signal_r_and_setter(int)
        super().__init__(endpoint, name, timeout, curve)

    async def _connected(self, status: dict) -> None:
        self._set_hash(status.get("active_hash") or "")

    @AsyncStatus.wrap
    async def set(self, value: PhaseConfig | str) -> None:
        ack = await self._call(self._session.push, value)
        self._set_hash(ack["hash"])
        for key, setter in zip(LATCH, (self._set_crc, self._set_latches, self._set_boot)):
            setter(int(ack[key] or 0))


class SimVNA(_DaemonDevice):
    """The VNA as a triggerable detector: ``trigger`` measures through the daemon."""

    def __init__(self, endpoint: str, name: str = "", timeout: float = 60.0, curve: tuple | None = None):
        with self.add_children_as_readables():
            self.s, self._set_s = soft_signal_r_and_setter(np.ndarray)
            self.measurement, self._set_measurement = soft_signal_r_and_setter(int)
            self.config_hash, self._set_hash = soft_signal_r_and_setter(str)
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.frequencies, self._set_frequencies = soft_signal_r_and_setter(Array1D[np.float64], units="Hz")
        super().__init__(endpoint, name, timeout, curve)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        m = await self._call(self._session.measure)
        self._set_frequencies(np.asarray(m.frequencies, np.float64))
        self._set_s(np.asarray(m.s))
        self._set_measurement(int(m.id))
        self._set_hash(m.config_hash or "")


class SimCalibration(_DaemonDevice):
    """A calibration run as a flyable: ``kickoff`` starts the job, ``complete`` waits for its record.
    ``params``: the daemon's ``calibrate`` fields (stages, slots, parameterization, ...)."""

    def __init__(self, endpoint: str, name: str = "", timeout: float = 600.0, curve: tuple | None = None, **params):
        self.params = params
        with self.add_children_as_readables():
            self.calibration, self._set_calibration = soft_signal_r_and_setter(int)
            self.status, self._set_status = soft_signal_r_and_setter(str)
            self.heldout_nmse_db, self._set_nmse = soft_signal_r_and_setter(float, units="dB")
        self._job: str | None = None
        super().__init__(endpoint, name, timeout, curve)

    @AsyncStatus.wrap
    async def kickoff(self) -> None:
        self._job = await self._call(lambda: self._session.calibrate(**self.params))

    @AsyncStatus.wrap
    async def complete(self) -> None:
        if self._job is None:
            raise RuntimeError("complete() before kickoff()")
        record = await self._call(self._session.wait_calibration, self._job)
        self._set_calibration(int(record["id"]))
        self._set_status(record["status"])
        self._set_nmse(float(record["metrics"].get("heldout_nmse_db", float("nan"))))
        if record["status"] != "done":
            raise RuntimeError(f"calibration {self._job} ended {record['status']}")
