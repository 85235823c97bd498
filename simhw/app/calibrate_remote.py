"""``simhw calibrate --endpoint``: a calibration through a running bench daemon, its progress as it runs.

The request names only what the command line sets; the daemon takes everything else from its bench
file's ``[calibration]``. Progress comes from the daemon's telemetry (``--publish``): the stages'
held-out NMSE and the final figure, after the residual stage. Exit status 0 when the calibration is
done, 1 when it failed or was cancelled, 3 when the daemon refused it or did not answer.
"""

from __future__ import annotations

import sys
import threading
import time

from calibration.calibrated import CalibratedModel
from simhw.control.client import DaemonClient, DaemonError
from simhw.control.telemetry import subscribe
from simhw.control.topics import Topic
from simhw.integrations.matlab import write_model

__all__ = ["calibrate_remote"]

FIELDS = ("stages", "slots", "parameterization", "estimator", "heldout", "atom_gains", "receivers", "residual")


def calibrate_remote(
    endpoint: str,
    publish: str | None,
    params: dict,
    curve: tuple | None = None,
    timeout: float = 30.0,
    wait: float = 3600.0,
    out=sys.stdout,
    mat: str | None = None,
) -> int:
    """``mat``: also write the calibrated model, fetched from the daemon's store, as a MATLAB file."""
    params = {k: v for k, v in params.items() if k in FIELDS and v is not None}
    seen: list = []
    stop = threading.Event()
    follower = None
    if publish:
        follower = threading.Thread(target=_follow, args=(publish, curve, seen, stop, out), daemon=True)
        follower.start()
        time.sleep(0.3)  # the subscription is made before the job starts
    try:
        with DaemonClient(endpoint, timeout=timeout, curve=curve) as c:
            job = c.calibrate(**params)
            seen.append(job)
            print(f"calibration job {job} started on {endpoint}", file=out, flush=True)
            rec = c.wait_calibration(job, timeout=wait)
            model = c.calibration(rec["id"])[1] if mat and rec["status"] == "done" else None
    except DaemonError as e:
        print(f"simhw: daemon error: {e}", file=sys.stderr)
        return 3
    finally:
        stop.set()
        if follower is not None:
            follower.join(5)
    metrics = rec.get("metrics") or {}
    if rec["status"] != "done":
        print(f"calibration #{rec['id']} {rec['status']}: {metrics.get('error', '')}", file=out, flush=True)
        return 1
    print(
        f"calibration #{rec['id']} done: held-out NMSE {metrics.get('initial_heldout_nmse_db', float('nan')):.2f}"
        f" dB -> {metrics.get('heldout_nmse_db', float('nan')):.2f} dB (model {rec['id']} in the daemon's store)",
        file=out,
        flush=True,
    )
    if model is not None:
        print(f"MATLAB model: {write_model(mat, CalibratedModel.from_bytes(model))}", file=out, flush=True)
    return 0


def _follow(publish, curve, seen, stop, out) -> None:
    """Print the calibration telemetry of this command's job until ``stop``."""
    while not stop.is_set():
        for _, d in subscribe(publish, (Topic.CALIBRATION,), timeout=0.5, curve=curve):
            if seen and d.get("job") == seen[0]:
                if d["state"] == "stage":
                    print(
                        f"  stage {d['stage']}/{d['stages']}: held-out NMSE {d['heldout_nmse_db']:.2f} dB",
                        file=out,
                        flush=True,
                    )
                elif d["state"] == "done":
                    print(
                        f"  final (after the residual stage): held-out NMSE {d['heldout_nmse_db']:.2f} dB",
                        file=out,
                        flush=True,
                    )
                elif d["state"] == "measured":
                    print(f"  measured {d['what']}", file=out, flush=True)
            if stop.is_set():
                return
