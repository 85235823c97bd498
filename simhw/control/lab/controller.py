"""The lab controller: one client for every bench in the lab's registry, addressed by name.

``LabController(dsn)`` reads the registry (``benches``: name, endpoints, public keys) from the lab
database and opens a :class:`DaemonClient` per bench on demand. :meth:`status` asks every bench at
once; :meth:`run` runs one job on several benches in parallel (a calibration by default, waiting for
each to finish) and collects what each answered, a bench that fails or does not answer included
with its error. :meth:`recalibrate_where` picks the benches by a condition on their latest
calibration in the lab store (for example, a held-out residual worse than a limit).
"""

from __future__ import annotations

import concurrent.futures as cf

from simhw.control.client import DaemonClient, DaemonError
from simhw.control.lab.lab_store import LabStore

__all__ = ["LabController", "BenchUnknown"]


class BenchUnknown(KeyError):
    pass


class LabController:
    def __init__(
        self, dsn: str, timeout: float = 30.0, curve_client_key: str | None = None, server_keys: dict | None = None
    ):
        """``curve_client_key``: this client's secret key file for benches that serve CURVE;
        ``server_keys``: bench name -> the bench's public key file (needed with CURVE)."""
        self.lab = LabStore(dsn)
        self.timeout = timeout
        self.curve_client_key, self.server_keys = curve_client_key, server_keys or {}
        self._clients: dict = {}

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        self.lab.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def benches(self) -> dict:
        return {b["name"]: b for b in self.lab.benches()}

    def client(self, name: str) -> DaemonClient:
        """The client of bench ``name`` (its first request endpoint in the registry)."""
        if name not in self._clients:
            benches = self.benches()
            if name not in benches:
                raise BenchUnknown(f"no bench {name!r} in the lab registry; known: {sorted(benches)}")
            endpoint = (benches[name]["endpoints"].get("bind") or [None])[0]
            if endpoint is None:
                raise BenchUnknown(f"bench {name!r} has no request endpoint in the registry")
            curve = None
            if name in self.server_keys and self.curve_client_key:
                curve = (self.server_keys[name], self.curve_client_key)
            self._clients[name] = DaemonClient(endpoint, timeout=self.timeout, curve=curve, name="lab-controller")
        return self._clients[name]

    def _each(self, names, fn) -> dict:
        names = sorted(self.benches()) if names is None else list(names)
        clients = {n: self.client(n) for n in names}  # an unknown name fails before anything runs
        with cf.ThreadPoolExecutor(max_workers=max(len(names), 1)) as pool:
            futures = {n: pool.submit(fn, clients[n]) for n in names}
        out = {}
        for n, f in futures.items():
            try:
                out[n] = {"ok": True, "result": f.result()}
            except (DaemonError, OSError, TimeoutError) as e:
                out[n] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        return out

    def status(self, names=None) -> dict:
        """Every bench's daemon status (or why it did not answer)."""
        return self._each(names, lambda c: c.status())

    def run(self, names=None, job: str = "calibrate", wait: float = 1800.0, **params) -> dict:
        """Run ``job`` (an operation of the daemons' API) with ``params`` on ``names`` (default: every
        bench); a calibration is waited for and its final record returned."""

        def one(c: DaemonClient):
            if job == "calibrate":  # a calibration that did not finish is this bench's failure, with its reason
                rec = c.wait_calibration(c.calibrate(**params), timeout=wait)
                if rec["status"] != "done":
                    raise DaemonError(
                        f"calibration_{rec['status']}",
                        f"calibration #{rec['id']} {rec['status']}: {(rec.get('metrics') or {}).get('error', '')}",
                    )
                return rec
            return c.request(job, **params).header

        return self._each(names, one)

    def recalibrate_where(self, condition, **params) -> dict:
        """Recalibrate every bench whose latest finished calibration in the lab satisfies ``condition``
        (a function of its record, e.g. ``lambda r: r["metrics"]["heldout_nmse_db"] > -15``)."""
        chosen = []
        for name in sorted(self.benches()):
            latest = [
                r for r in self.lab.query("calibration", bench=name, limit=20, arrays=False) if r["status"] == "done"
            ]
            if latest and condition(latest[0]):
                chosen.append(name)
        return {"benches": chosen, "results": self.run(chosen, **params) if chosen else {}}
