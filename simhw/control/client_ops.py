"""The bench daemon's operations as typed client methods (generated: do not edit).

Written by ``python -m simhw.control.client_gen`` from :data:`simhw.control.operations.OPERATIONS`;
:class:`~simhw.control.client.DaemonClient` inherits them and implements ``_call``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig

__all__ = ["OperationMethods"]


class OperationMethods:
    """One method per declared operation; each sends its request and returns its reply as declared."""

    _call: Callable[..., Any]

    def status(self, *, timeout: float | None = None) -> Any:
        """The daemon's status: version, schema, board, active hash, job in flight, queue, counters, schedule, clock."""
        return self._call("status", timeout)

    def ping(self, *, timeout: float | None = None) -> Any:
        """As status."""
        return self._call("ping", timeout)

    def board_status(self, *, timeout: float | None = None) -> Any:
        """The board's live STATUS, read from the board now (not from a cache)."""
        return self._call("board_status", timeout)

    def push(self, config: PhaseConfig | str, *, timeout: float | None = None) -> dict:
        """Show a configuration on the board, acknowledged after its readback matched and the push is stored.

        ``config``: a phase-config file line (PhaseConfig.to_bytes).
        """
        return self._call("push", timeout, config=config)

    def measure(self, *, timeout: float | None = None) -> Measurement:
        """Sweep the VNA as the bench file says and store the measurement, labelled with what the board reports it
        showed.
        """
        return self._call("measure", timeout)

    def push_measure(self, config: PhaseConfig | str, *, timeout: float | None = None) -> Measurement:
        """Push, then measure.

        ``config``: a phase-config file line (PhaseConfig.to_bytes).
        """
        return self._call("push_measure", timeout, config=config)

    def configs(self, limit: int = 100, before: int | None = None, *, timeout: float | None = None) -> list[dict]:
        """Stored configurations.

        ``limit``: how many records, newest first (pushes: oldest first).
        ``before``: only records older than this cursor (a reply's `next`).
        """
        return self._call("configs", timeout, limit=limit, before=before)

    def config(self, hash: str | None = None, name: str | None = None, *, timeout: float | None = None) -> Any:
        """One stored configuration, by its content hash or by a name it was pushed under (the newest so named, returned
        under that name).

        ``hash``: its content hash.
        ``name``: a name it was pushed under (instead of hash).
        """
        return self._call("config", timeout, hash=hash, name=name)

    def pushes(self, limit: int = 100, before: int | None = None, *, timeout: float | None = None) -> list[dict]:
        """Acknowledged pushes.

        ``limit``: how many records, newest first (pushes: oldest first).
        ``before``: only records older than this cursor (a reply's `next`).
        """
        return self._call("pushes", timeout, limit=limit, before=before)

    def measurements(self, limit: int = 100, before: int | None = None, *, timeout: float | None = None) -> list[dict]:
        """Stored measurements.

        ``limit``: how many records, newest first (pushes: oldest first).
        ``before``: only records older than this cursor (a reply's `next`).
        """
        return self._call("measurements", timeout, limit=limit, before=before)

    def measurement(self, measurement: int, *, timeout: float | None = None) -> Measurement:
        """One stored measurement with its arrays.

        ``measurement``: its store id.
        """
        return self._call("measurement", timeout, measurement=measurement)

    def calibrate(
        self,
        *,
        stages: int | None = None,
        slots: int | None = None,
        parameterization: str | None = None,
        estimator: str | None = None,
        heldout: int | None = None,
        atom_gains: bool | None = None,
        receivers: str | None = None,
        residual: bool | None = None,
        job: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Start a calibration; it goes on after the reply (follow it on telemetry or with calibration).

        ``stages``: stages (default: the bench file's).
        ``slots``: pilot configurations per stage.
        ``parameterization``: the model to fit.
        ``estimator``: how to fit it.
        ``heldout``: held-out pilot configurations.
        ``atom_gains``: fit a gain per atom (hybrid).
        ``receivers``: receive terms fitted per frequency.
        ``residual``: run the residual stage (kept only if it lowers held-out NMSE).
        ``job``: the job id to use (default: a new one).
        """
        return self._call(
            "calibrate",
            timeout,
            stages=stages,
            slots=slots,
            parameterization=parameterization,
            estimator=estimator,
            heldout=heldout,
            atom_gains=atom_gains,
            receivers=receivers,
            residual=residual,
            job=job,
        )

    def cancel(self, job: str, *, timeout: float | None = None) -> None:
        """Cancel a calibration job.

        ``job``: the job id.
        """
        return self._call("cancel", timeout, job=job)

    def calibrations(self, limit: int = 100, before: int | None = None, *, timeout: float | None = None) -> list[dict]:
        """Stored calibrations.

        ``limit``: how many records, newest first (pushes: oldest first).
        ``before``: only records older than this cursor (a reply's `next`).
        """
        return self._call("calibrations", timeout, limit=limit, before=before)

    def calibration(
        self, calibration: int, model: bool = True, *, timeout: float | None = None
    ) -> tuple[Any, bytes | None]:
        """One stored calibration with its model.

        ``calibration``: its store id.
        ``model``: send the model too.
        """
        return self._call("calibration", timeout, calibration=calibration, model=model)

    def events(
        self, kind: str | None = None, limit: int = 100, before: int | None = None, *, timeout: float | None = None
    ) -> list[dict]:
        """Stored events.

        ``kind``: only events of this kind.
        ``limit``: how many records, newest first (pushes: oldest first).
        ``before``: only records older than this cursor (a reply's `next`).
        """
        return self._call("events", timeout, kind=kind, limit=limit, before=before)

    def tag(
        self, kind: str, target: str, tag: str, operator: str | None = None, *, timeout: float | None = None
    ) -> Any:
        """Tag a stored record; the tag is replicated to the lab database with it.

        ``kind``: what is tagged.
        ``target``: its store id (a config: its hash).
        ``tag``: the tag (1 to 200 characters).
        ``operator``: who tags it (default: the client's name).
        """
        return self._call("tag", timeout, kind=kind, target=target, tag=tag, operator=operator)

    def st_session(
        self,
        config: PhaseConfig | str,
        layer: int,
        seed: int,
        slots: int,
        rate_hz: float,
        frequency: float | None = None,
        param: str = "S21",
        *,
        timeout: float | None = None,
    ) -> tuple:
        """A randomised space-time session: one layer re-drawn every slot, stepped by the VNA's per-point trigger.

        ``config``: the base pattern.
        ``layer``: the randomised layer.
        ``seed``: the shared generator's seed.
        ``slots``: how many slots (at most the VNA's points per sweep).
        ``rate_hz``: the slot rate (at most what the VNA's fastest point time allows).
        ``frequency``: the CW frequency (default: the sweep's centre).
        ``param``: the S-parameter, of a receive port.
        """
        return self._call(
            "st_session",
            timeout,
            config=config,
            layer=layer,
            seed=seed,
            slots=slots,
            rate_hz=rate_hz,
            frequency=frequency,
            param=param,
        )
